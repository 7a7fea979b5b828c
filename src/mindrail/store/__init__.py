"""mindrail.store"""
