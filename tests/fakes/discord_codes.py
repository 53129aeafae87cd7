"""Discord's numeric codes the emulator speaks beyond those of its records
(``discord_model``) and the gateway (``discord_gateway``): interaction and
callback types, message types, command option and component types."""

from __future__ import annotations

# Interaction types, and the callback types Discord accepts for each.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
CALLBACKS_FOR = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
# Message types.
DEFAULT_MESSAGE = 0
REPLY = 19
CHAT_INPUT_COMMAND = 20
# Application command option types, and component types.
CHAT_INPUT = 1
# Interaction contexts and installation types (``contexts``, ``integration_types``).
GUILD_CONTEXT = 0
BOT_DM_CONTEXT = 1
GUILD_INSTALL = 0
USER_INSTALL = 1
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
BUTTON, STRING_SELECT, TEXT_INPUT, LABEL, ACTION_ROW = 2, 3, 4, 18, 1
