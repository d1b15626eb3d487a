"""core.project"""
