"""The Discord host of executus: it wires the executor to Discord and to the store."""
