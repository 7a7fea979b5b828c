"""mindrail.policy"""
