"""The host of executus: it wires the executor to Discord and to the store.

Discord-free, shared by the bot and the terminal console:

- ``services``: the services built once (models, tools, agents, executor,
  run service) around an open store;
- ``run_service``: one run from request to Result, its conversation
  history and turns, and the runs in flight (cancel, shutdown);
- ``messages/``: the text members read, written in one place;
- ``splitting``: fitting text into Discord's 2,000 characters;
- ``store/``: the database (audit, budgets, conversations, threads);
- ``agents/``: agent and skill files;
- ``metrics``, ``metrics_server``, ``health``, ``healthcheck``, ``tracing``:
  what operators watch (Prometheus, ``/healthz``, OpenTelemetry);
- ``config``, ``logs``, ``http``, ``supervisor`` (the critic's Escalator),
  ``console`` (``python -m bot chat``), ``__main__`` (``python -m bot``).

``discord_host/`` holds every module that imports discord: the composition
root of the bot, the client, and the one owner of thread conversations.
"""
