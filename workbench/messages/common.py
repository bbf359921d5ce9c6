"""Messages shared by several areas."""

MESSAGES = {
    "common.unexpected": ("{detail}", "{detail}"),
    "common.prefixed": ("{prefix}: {detail}", "{prefix}：{detail}"),
    "common.name": ("{name}", "{name}"),
    "common.semicolon_list": ("{first}; {rest}", "{first}；{rest}"),
}
