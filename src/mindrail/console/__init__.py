"""mindrail.console"""
