"""core.runtime"""
