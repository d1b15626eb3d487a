"""core.facs"""
