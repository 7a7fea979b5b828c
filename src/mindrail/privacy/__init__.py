"""mindrail.privacy"""
