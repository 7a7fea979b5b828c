"""mindrail.bench"""
