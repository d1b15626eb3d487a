"""core.jobs"""
