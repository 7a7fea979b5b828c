"""mindrail.risk"""
