class AnyType(str):
    """Never unequal to another type (ComfyUI compares declared types with !=)."""

    def __ne__(self, other):
        return False


class AlwaysEqualProxy(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


any_type = AnyType("*")
