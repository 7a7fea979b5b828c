"""mindrail.gateway"""
