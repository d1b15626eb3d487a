"""core.render"""
