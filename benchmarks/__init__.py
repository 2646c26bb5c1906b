"""Side-by-side benchmarks of django-durabledict, a plain dict, the original
durabledict, django-constance and django-waffle.

Run ``python -m benchmarks`` from the repository root; see benchmarks/README.md.
"""
