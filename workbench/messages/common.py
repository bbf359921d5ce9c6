"""Messages shared by several areas."""

MESSAGES = {
    "common.unexpected": ("{detail}", "{detail}"),
}
