NODE_CLASS_MAPPINGS = {
    "Broken": Broken,

def oops(:
    pass
