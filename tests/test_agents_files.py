"""Agent and skill TOML files: problems name the file and the field, good
files load regardless, and the shipped definitions load cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agents import LoadedAgents, load_agents
from executor import Result
from executor.delegation import add_delegation_tools
from executor.tools.base import Visibility
from executor.tools.builtin import OPTIONAL_TOOL_NAMES, WORKSPACE_TOOL_NAMES, builtin_tools
from executor.tools.invocation import Invocation
from executor.tools.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {t.name for t in builtin_tools()}
TIERS = {"fast", "smart"}

GOOD_AGENT = '''
name = "Helper"
description = "Helps."
tools = ["calculator", "write_file"]
system_prompt = "Be helpful."
'''
GOOD_SKILL = '''
description = "Shortens text."
prompt = "Shorten to {words} words: {text}"
[inputs.text]
type = "string"
[inputs.words]
type = "integer"
description = "Word limit."
[inputs.tone]
type = "string"
required = false
'''


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def load(tmp_path: Path, agents: dict[str, str], skills: dict[str, str] | None = None) -> LoadedAgents:
    skills_dir = write(tmp_path / "skills", skills or {})
    return load_agents(write(tmp_path / "agents", agents), TOOLS, skills_dir=skills_dir, tiers=TIERS)


def test_shipped_agents_and_skills_load_and_build_their_toolboxes() -> None:
    loaded = load_agents(ROOT / "agents", TOOLS, skills_dir=ROOT / "skills")
    assert loaded.problems == []
    assert {"assistant", "researcher"} <= set(loaded.agents)
    assert "summarize" in loaded.skills
    registry = Registry(builtin_tools())
    for definition in loaded.agents.values():
        agent = definition.runnable()
        box = registry.build(agent.tools, Invocation(caller_id="member"), agent.visibility)
        add_delegation_tools(box, agent, Invocation(caller_id="member"), loaded, _never_run, max_depth=3)
        assert len(box) == len(agent.tools) + len(agent.skills) + len(agent.agents)
    researcher = loaded.agents["researcher"]
    assert researcher.skills == ("summarize",) and researcher.agents == ("assistant",)
    assert set(loaded.agents["assistant"].session_tools) == WORKSPACE_TOOL_NAMES


async def _never_run(*_: object) -> Result:
    raise AssertionError("building a toolbox must not start a run")


def test_bad_file_names_file_and_field_while_good_files_load(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            "good.toml": GOOD_AGENT,
            "bad.toml": GOOD_AGENT + "max_iterations = 0\n",
        },
    )
    assert list(loaded.agents) == ["good"]
    assert loaded.problems == [f"{tmp_path / 'agents' / 'bad.toml'}: max_iterations: Input should be greater than 0"]


def test_relative_directory_shows_in_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "agents", {"bad.toml": GOOD_AGENT + "max_runtime = -5\n"})
    monkeypatch.chdir(tmp_path)
    loaded = load_agents("agents", TOOLS)
    assert loaded.problems == ["agents/bad.toml: max_runtime: Input should be greater than 0"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("description = \n", "not valid TOML"),
        (GOOD_AGENT + "max_iteration = 3\n", "max_iteration: Extra inputs are not permitted"),
        (GOOD_AGENT.replace('description = "Helps."', ""), "description: Field required"),
        (GOOD_AGENT + 'id = "Bad Id"\n', "id: use 1-32 lowercase letters"),
        (GOOD_AGENT.replace('"calculator"', '"shell"'), "tools: unknown tool 'shell' (known: calculator,"),
        (GOOD_AGENT.replace('"calculator"', '"write_file"'), "tools: listed more than once: write_file"),
        (GOOD_AGENT + "critic = 'yes'\n", "critic: Input should be a valid boolean"),
        (GOOD_AGENT + "stream = 'no'\n", "stream: Input should be a valid boolean"),
        (GOOD_AGENT + "[palette]\nskills = ['nope']\n", "palette.skills: no skill 'nope' was loaded"),
        (GOOD_AGENT + "[palette]\nagents = ['ghost']\n", "palette.agents: no agent 'ghost' was loaded"),
        (GOOD_AGENT + "[palette]\nagents = ['x']\n", "palette: an agent cannot delegate to itself (agents lists 'x')"),
        (GOOD_AGENT + "tier = 'galaxy'\n", "tier: unknown tier 'galaxy' (known: fast, smart)"),
        (GOOD_AGENT + "tier = 'openai'\n", "tier: unknown tier 'openai' (known: fast, smart)"),
        (GOOD_AGENT + "tier = 'acme/model-1'\n", "tier: unknown provider 'acme' in 'acme/model-1'"),
        (GOOD_AGENT + "[access]\neveryone = true\nroles = ['mod']\n", "access: give either everyone = true or roles"),
        (GOOD_AGENT + "[access]\nroles = 'mod'\n", "access.roles: Input should be a valid list"),
    ],
)
def test_each_problem_is_reported_against_its_file(tmp_path: Path, text: str, problem: str) -> None:
    loaded = load(tmp_path, {"x.toml": text, "ok.toml": GOOD_AGENT})
    assert list(loaded.agents) == ["ok"]
    assert any(p.startswith(f"{tmp_path / 'agents' / 'x.toml'}: ") and problem in p for p in loaded.problems), (
        loaded.problems
    )


def test_every_problem_of_a_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    broken = (
        GOOD_AGENT.replace('"calculator"', '"shell"')
        + "tier = 'galaxy'\nmax_iterations = 0\ncritic = 'yes'\n[palette]\nskills = ['nope']\n"
    )
    loaded = load(tmp_path, {"x.toml": broken, "ok.toml": GOOD_AGENT})
    where = tmp_path / "agents" / "x.toml"
    assert list(loaded.agents) == ["ok"]
    assert [p.split(": ", 2)[1] for p in loaded.problems] == [
        "tier",
        "tools",
        "max_iterations",
        "palette.skills",
        "critic",
    ], loaded.problems
    assert f"{where}: tier: unknown tier 'galaxy' (known: fast, smart)" in loaded.problems
    assert all(p.startswith(f"{where}: ") for p in loaded.problems)


def test_a_skill_reports_its_tier_tools_and_template_together(tmp_path: Path) -> None:
    broken = "tier = 'huge'\ntools = ['write_file', 'browser']\n" + GOOD_SKILL.replace("{text}", "{body}")
    loaded = load(tmp_path, {}, {"s.toml": broken})
    where = tmp_path / "skills" / "s.toml"
    assert loaded.skills == {}
    assert loaded.problems == [
        f"{where}: tier: unknown tier 'huge' (known: fast, smart)",
        f"{where}: tools: 'write_file' is only available to agents, not skills; unknown tool 'browser' (known: "
        + ", ".join(sorted(TOOLS | OPTIONAL_TOOL_NAMES))
        + ")",
        f"{where}: prompt: {{body}} is not one of the inputs",
    ]


def test_a_provider_model_spec_is_a_valid_tier(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"x.toml": GOOD_AGENT + "tier = 'openai/llama3.1:8b'\n"})
    assert loaded.problems == [] and loaded.agents["x"].tier == "openai/llama3.1:8b"


def test_delegating_to_a_broken_agent_drops_the_chain(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            "a.toml": GOOD_AGENT + "[palette]\nagents = ['b']\n",
            "b.toml": GOOD_AGENT + "[palette]\nagents = ['c']\n",
            "c.toml": GOOD_AGENT.replace('"calculator"', '"shell"'),
            "d.toml": GOOD_AGENT + "[palette]\nagents = ['e']\n",
            "e.toml": GOOD_AGENT,
        },
    )
    assert sorted(loaded.agents) == ["d", "e"]
    assert any("b.toml: palette.agents: no agent 'c'" in p for p in loaded.problems)
    assert any("a.toml: palette.agents: no agent 'b'" in p for p in loaded.problems)


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    loaded = load(tmp_path, {"a.toml": GOOD_AGENT, "b.toml": GOOD_AGENT + 'id = "a"\n'})
    assert loaded.agents["a"].source.endswith("a.toml")
    agents = tmp_path / "agents"
    assert loaded.problems == [f"{agents / 'b.toml'}: id: 'a' is already defined in {agents / 'a.toml'}"]


def test_missing_directory_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    loaded = load_agents(tmp_path / "nowhere", TOOLS)
    assert loaded.agents == {} and loaded.problems == [f"{tmp_path / 'nowhere'}: directory not found"]


def test_agent_converts_to_runnable_with_session_tools_apart(tmp_path: Path) -> None:
    text = GOOD_AGENT + "tier = 'smart'\nmax_iterations = 7\nmax_runtime = 90\ncritic = true\n"
    loaded = load(tmp_path, {"helper.toml": text + "[palette]\nskills = ['shorten']\n"}, {"shorten.toml": GOOD_SKILL})
    definition = loaded.agents["helper"]
    assert definition.session_tools == ("write_file",)
    agent = definition.runnable()
    assert (agent.id, agent.name, agent.tier, agent.tools) == ("helper", "Helper", "smart", ("calculator",))
    assert (agent.max_iterations, agent.max_runtime, agent.critic, agent.skills) == (7, 90.0, True, ("shorten",))
    assert agent.visibility is Visibility.PUBLIC
    assert loaded.agent("helper") == agent and loaded.agent("missing") is None


def test_defaults_leave_caps_to_the_executor(tmp_path: Path) -> None:
    agent = load(tmp_path, {"plain.toml": GOOD_AGENT}).agents["plain"].runnable()
    assert (agent.max_iterations, agent.max_runtime, agent.tier, agent.critic) == (0, 0.0, "", False)


def test_skill_becomes_a_runnable_with_inputs_schema(tmp_path: Path) -> None:
    loaded = load(tmp_path, {}, {"shorten.toml": GOOD_SKILL})
    skill = loaded.skill("shorten")
    assert skill is not None and loaded.skill("other") is None
    assert skill.prompt_template == "Shorten to {words} words: {text}"
    assert skill.inputs_schema == {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "words": {"type": "integer", "description": "Word limit."},
            "tone": {"type": "string"},
        },
        "required": ["text", "words"],
    }
    assert skill.prompt_template.format(text="abc", words=3) == "Shorten to 3 words: abc"


def test_a_template_may_use_an_optional_input(tmp_path: Path) -> None:
    loaded = load(tmp_path, {}, {"s.toml": GOOD_SKILL.replace("{text}", "{text} {tone}")})
    assert loaded.problems == [] and "{tone}" in loaded.skills["s"].runnable().prompt_template


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD_SKILL.replace("{text}", "{body}"), "prompt: {body} is not one of the inputs"),
        (GOOD_SKILL.replace("{text}", "{text.upper}"), "must name an input (no positions, attributes or indexes)"),
        (GOOD_SKILL.replace("{text}", "{}"), "must name an input"),
        (GOOD_SKILL.replace("{text}", "{text"), "prompt: expected '}' before end of string"),
        (GOOD_SKILL.replace('type = "integer"', 'type = "float"'), "inputs.words.type: Input should be 'string'"),
        ("tools = ['write_file']\n" + GOOD_SKILL, "tools: 'write_file' is only available to agents, not skills"),
        ("tools = ['browser']\n" + GOOD_SKILL, "tools: unknown tool 'browser'"),
        (GOOD_SKILL + "[inputs.bad-name]\ntype = 'string'\n", "inputs: input names must be identifiers"),
    ],
)
def test_skill_problems_name_file_and_field(tmp_path: Path, text: str, problem: str) -> None:
    loaded = load(tmp_path, {}, {"s.toml": text, "ok.toml": GOOD_SKILL})
    assert list(loaded.skills) == ["ok"]
    assert any(p.startswith(f"{tmp_path / 'skills' / 's.toml'}: ") and problem in p for p in loaded.problems), (
        loaded.problems
    )


def test_access_rules(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            "open.toml": GOOD_AGENT + "[access]\neveryone = true\n",
            "mods.toml": GOOD_AGENT + "[access]\nroles = ['Moderators', '123456789']\n",
            "admins.toml": GOOD_AGENT,
        },
    )
    open_, mods, admins = (loaded.agents[k] for k in ("open", "mods", "admins"))
    assert open_.may_run([]) and open_.may_run(["anything"])
    assert mods.may_run(["moderators"]) and mods.may_run(["999", "123456789"])
    assert not mods.may_run(["members", "42"])
    assert not admins.may_run(["moderators"]) and admins.may_run([], is_admin=True)
    assert [a.id for a in loaded.available_to(["Moderators"])] == ["mods", "open"]
    assert [a.id for a in loaded.available_to([], is_admin=True)] == ["admins", "mods", "open"]


MCP_AGENT = GOOD_AGENT + 'mcp = { github = ["search_issues"], files = ["*"] }\n'


def test_mcp_tables_and_approval_gates_load_into_the_runnable(tmp_path: Path) -> None:
    text = MCP_AGENT + 'approve = { tools = ["github__search_issues", "files__rm", "calculator"], by = ["role:Mods"] }\n'
    skill = 'mcp = { github = ["get_issue"] }\n' + GOOD_SKILL
    loaded = load_agents(
        write(tmp_path / "agents", {"gh.toml": text}),
        TOOLS,
        skills_dir=write(tmp_path / "skills", {"short.toml": skill}),
        mcp_servers={"github", "files"},
    )
    assert loaded.problems == []
    agent = loaded.agents["gh"].runnable()
    assert agent.external_tools == {"github": ("search_issues",), "files": ("*",)}
    assert agent.approval is not None and agent.approval.tools == {"github__search_issues", "files__rm", "calculator"}
    assert (agent.approval.by, agent.approval.timeout) == (("role:Mods",), 300.0)
    assert loaded.skills["short"].runnable().external_tools == {"github": ("get_issue",)}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD_AGENT + 'mcp = { gitlab = ["x"] }\n', "mcp: no MCP server 'gitlab' (configured: files, github)"),
        (GOOD_AGENT + "mcp = { github = [] }\n", 'github: name its tools, or ["*"] for all of them'),
        (MCP_AGENT + 'approve = { tools = ["github__get_issue"] }\n', "approve.tools: not tools of this agent: github__get_issue"),
        (MCP_AGENT + 'approve = { tools = ["calculator"], by = ["Mods"] }\n', 'name roles as "role:NAME"'),
    ],
)
def test_mcp_and_approval_problems_name_the_field(tmp_path: Path, text: str, problem: str) -> None:
    loaded = load_agents(write(tmp_path / "agents", {"x.toml": text}), TOOLS, mcp_servers={"github", "files"})
    assert "x" not in loaded.agents
    assert any(problem in p for p in loaded.problems), loaded.problems


def test_memory_is_opted_into_with_memory_true_not_by_listing_its_tools(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            "keeper.toml": GOOD_AGENT + "memory = true\n",
            "plain.toml": GOOD_AGENT,
            "sneaky.toml": GOOD_AGENT.replace('"write_file"', '"write_file", "recall"'),
        },
        {"s.toml": GOOD_SKILL.replace('description = "Shortens text."', 'description = "x"\ntools = ["remember"]')},
    )
    assert loaded.agents["keeper"].runnable().tools == ("calculator", "recall", "remember")
    assert "recall" not in loaded.agents["plain"].runnable().tools
    assert "sneaky" not in loaded.agents and "s" not in loaded.skills
    assert any("sneaky.toml: tools: " in p and "'recall' comes with 'memory = true'" in p for p in loaded.problems)
    assert any("s.toml: tools: " in p and "'remember' comes with 'memory = true'" in p for p in loaded.problems)
