"""A helper without any rule: named in rule_modules, it is a mistake."""

def helper():
    return 1
