"""mindrail.backends"""
