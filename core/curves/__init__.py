"""core.curves"""
