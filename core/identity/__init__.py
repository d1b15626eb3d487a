"""core.identity"""
