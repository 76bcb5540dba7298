"""`SC2Env`: one StarCraft II game behind the array interface of `envs_jax.ArrayEnv` (host side, numpy).

    env = SC2Env("6h_vs_8z", layout="smax")
    state, ts = env.reset(key)                  # ts: envs_jax.TimeStep of numpy arrays
    state, ts = env.step(key, state, actions)   # actions int [N]; auto-reset at the end of an episode

`SC2VecEnv` runs E games side by side (leading axis E, games stepped in threads).

A game: pysc2 launches StarCraft II (`Pysc2Launcher`: run_configs, `$SC2PATH`), the bridge creates a game
on `$SC2PATH/Maps/SMAC_Maps/<map>.SC2Map` against the built-in bot (difficulty 7, VeryHard, by default),
joins with the raw interface, and then each env step sends one RequestAction (a raw command per live
unit), one RequestStep of `step_mul` game loops (8) and one RequestObservation. An episode ends when a
side has no units left (a side with only medivacs left has lost), or after `episode_limit` steps
(SMAC's limit of the map; a truncation). A new episode: every unit is killed through the debug
interface and the map's trigger respawns both armies (SMAC's reset); the game is launched once.

If the game dies (its process exits, the connection breaks, a request times out after `timeout_s`), the
env closes it and, with `on_crash="restart"` (the default), launches a new one: the step that hit the
failure returns done=True, truncated=True with the new game's first observation, so the rollout goes on
and the learner bootstraps the cut episode from `final_world_state` (the last state seen). `restarts`
counts these and `last_error` says what happened; a warning is issued. With `on_crash="raise"` the
step raises `SC2GameCrashed` and the next `reset` launches a new game. A launch that fails
`max_restarts` times in a row raises `SC2GameCrashed`.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import platform
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from envs_jax.choices import check_choice
from envs_jax.wrappers import TimeStep

from ._proto import INSTALL_HINT, load_pysc2
from .layouts import (
    SmacLayout,
    SmaxLayout,
    max_smac_reward,
    smac_reward,
    smax_reward,
)
from .maps import DIFFICULTIES, RACES, SMAC_MAPS, MapSpec
from .units import (
    ALLY_OWNER,
    ENEMY_OWNER,
    Geometry,
    Roster,
    RosterError,
    carry_maxima,
    check_roster,
    table_from_raw,
    unit_kinds,
)

Layout = Literal["smax", "smac"]
RewardKind = Literal["smac", "smax"]
OnCrash = Literal["restart", "raise"]
LAYOUTS, REWARDS, ON_CRASH = ("smax", "smac"), ("smac", "smax"), ("restart", "raise")

SC2_DOWNLOAD = "https://github.com/Blizzard/s2client-proto#downloads (Linux package, e.g. SC2.4.10.zip)"
SMAC_MAPS_DOWNLOAD = "https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip"
MAX_SPAWN_LOOPS = 200  # game loops to wait for the map's trigger to respawn the armies


class SC2InstallError(FileNotFoundError):
    """StarCraft II or a SMAC map is not where the bridge looks; the message says what to install where."""


class SC2GameCrashed(RuntimeError):
    """The game stopped answering (process died, connection lost, timeout)."""


class SC2State(NamedTuple):
    """The host-side part of the env state (the rest lives in the game, which cannot go back)."""

    episode_return: np.ndarray  # float32 []
    episode_length: np.ndarray  # int32 []
    step_id: int  # env steps this SC2Env has taken; a state from an earlier step is refused


# ============================================================================ launching
def default_sc2_path() -> Path:
    """pysc2's rule: $SC2PATH, else the platform's default install folder."""
    if os.environ.get("SC2PATH"):
        return Path(os.environ["SC2PATH"]).expanduser()
    system = platform.system()
    if system == "Darwin":
        return Path("/Applications/StarCraft II")
    if system == "Windows":
        return Path("C:/Program Files (x86)/StarCraft II")
    return Path("~/StarCraftII").expanduser()


def check_install(path: Path, spec: MapSpec) -> Path:
    """Raise SC2InstallError unless the game and the map are installed; return the map's file."""
    if not path.is_dir():
        raise SC2InstallError(
            f"StarCraft II not found at {path} (from $SC2PATH, or pysc2's default when it is unset). Install the "
            f"game: on Linux download {SC2_DOWNLOAD}, unzip it (password: iagreetotheeula) so that "
            f"~/StarCraftII/Versions/ exists, or set SC2PATH to the game's folder; on Windows/macOS install it "
            f"from Battle.net."
        )
    if platform.system() == "Linux" and not glob.glob(str(path / "Versions" / "Base*" / "SC2_x64")):
        raise SC2InstallError(
            f"{path} has no game binary Versions/Base*/SC2_x64: is SC2PATH the StarCraftII folder of the Linux "
            f"package ({SC2_DOWNLOAD})?"
        )
    map_file = path / "Maps" / spec.path
    if not map_file.is_file():
        raise SC2InstallError(
            f"SMAC map not found: {map_file}. Download the SMAC maps ({SMAC_MAPS_DOWNLOAD}, MIT licence) and "
            f"unzip them into {path / 'Maps'} so that {path / 'Maps' / 'SMAC_Maps'}/{spec.name}.SC2Map exists."
        )
    return map_file


@contextlib.contextmanager
def _sc2path(path: Path):
    """pysc2's run configs read $SC2PATH when built; point it at `path` for that moment."""
    old = os.environ.get("SC2PATH")
    os.environ["SC2PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SC2PATH", None)
        else:
            os.environ["SC2PATH"] = old


class LaunchedGame:
    """A running game: its pysc2 RemoteController, the process (if any) and how to close it."""

    def __init__(self, controller, process=None, on_close=None):
        self.controller, self.process, self._on_close = controller, process, on_close

    @property
    def pid(self) -> int | None:
        proc = getattr(self.process, "_proc", None)
        return proc.pid if proc is not None else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.process is not None:
                self.process.close()  # quits the controller and ends the process
            else:
                self.controller.quit()
        if self._on_close is not None:
            self._on_close()


class Pysc2Launcher:
    """Launch the installed game with pysc2's run configs (the path a user with the game takes)."""

    def __init__(self, sc2_path: str | os.PathLike | None = None, game_version: str | None = None,
                 timeout_s: int | None = None):
        self.sc2_path = Path(sc2_path).expanduser() if sc2_path else None
        self.game_version, self.timeout_s = game_version, timeout_s

    @property
    def path(self) -> Path:
        return self.sc2_path or default_sc2_path()

    def check(self, spec: MapSpec) -> None:
        check_install(self.path, spec)

    def map_data(self, spec: MapSpec) -> bytes:
        return check_install(self.path, spec).read_bytes()

    def launch(self) -> LaunchedGame:
        m = load_pysc2()
        with _sc2path(self.path):
            run_config = m.run_configs.get(version=self.game_version)
        proc = run_config.start(want_rgb=False, timeout_seconds=self.timeout_s)
        return LaunchedGame(proc.controller, proc)


# ============================================================================ the env
def _seed_from_key(key) -> int | None:
    """A game seed from a jax key (raw uint32 or typed) or an int; None stays None."""
    if key is None:
        return None
    if isinstance(key, (int, np.integer)):
        return int(key) % (2**31 - 1)
    import jax

    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = np.asarray(jax.random.key_data(key)) if typed else np.asarray(key)
    words = data.astype(np.uint64).ravel()
    return int(sum(int(w) << (32 * i) for i, w in enumerate(words)) % (2**31 - 1))


class SC2Env:
    """One SMAC map on the real game, with envs_jax.ArrayEnv's interface. See the module docstring.

    Args:
        map_name: a SMAC map (`envs_jax.sc2.sc2_names()` without the `sc2_` prefix).
        layout: "smax" (SMAX's observation and actions: a policy trained on smax_<policy_map> runs
            unchanged) or "smac" (SMAC's).
        policy_map: the SMAX scenario whose layout to use (default: map_name); its unit roster must be the
            map's.
        reward: "smac" (damage + 10 per kill + 200 per win, scaled to a maximum return of 20) or "smax"
            (health fractions / enemy count + 1 per win); default: the layout's own.
        episode_limit: env steps before truncation (default: SMAC's limit of the map).
        step_mul: game loops per env step (SMAC: 8).
        difficulty: the built-in bot's level, "1".."9" or "A" (SMAC: "7", VeryHard).
        seed: the game's random seed (default: from the first reset's key).
        on_crash: "restart" or "raise" when the game dies (module docstring).
        launcher: what starts a game (default `Pysc2Launcher(sc2_path, game_version, timeout_s)`; the tests
            use `envs_jax.sc2.fake_server.FakeLauncher`).
    """

    def __init__(
        self,
        map_name: str,
        layout: Layout = "smax",
        policy_map: str | None = None,
        reward: RewardKind | None = None,
        episode_limit: int | None = None,
        step_mul: int = 8,
        move_amount: float = 2.0,
        difficulty: str = "7",
        seed: int | None = None,
        game_version: str | None = None,
        sc2_path: str | os.PathLike | None = None,
        timeout_s: int | None = None,
        on_crash: OnCrash = "restart",
        max_restarts: int = 3,
        infer_enemy_actions: bool = True,
        launcher=None,
    ):
        check_choice("map_name", map_name, SMAC_MAPS)
        check_choice("layout", layout, LAYOUTS)
        check_choice("difficulty", difficulty, DIFFICULTIES)
        check_choice("on_crash", on_crash, ON_CRASH)
        reward = reward or layout
        check_choice("reward", reward, REWARDS)
        if step_mul < 1:
            raise ValueError(f"step_mul={step_mul} must be >= 1 (game loops per env step)")
        if episode_limit is not None and episode_limit < 1:
            raise ValueError(f"episode_limit={episode_limit} must be >= 1")
        self.spec = spec = SMAC_MAPS[map_name]
        self.name = f"sc2_{map_name}"
        self.map_name, self.reward_kind = map_name, reward
        if layout == "smax":
            self.layout = SmaxLayout(spec, policy_map, move_amount, infer_enemy_actions)
        else:
            if policy_map not in (None, map_name):
                raise ValueError("policy_map only applies to layout='smax'")
            self.layout = SmacLayout(spec, move_amount)
        self.layout_name = layout
        self.num_agents = self.layout.num_agents
        self.agents = [f"ally_{i}" for i in range(self.num_agents)]
        self.num_actions = self.layout.num_actions
        self.obs_dim, self.state_dim = self.layout.obs_dim, self.layout.state_dim
        self.max_steps = self.episode_limit = episode_limit or spec.limit
        self.has_win = True
        self.step_mul, self.difficulty, self.seed = step_mul, difficulty, seed
        self.on_crash, self.max_restarts = on_crash, max_restarts
        self.launcher = launcher or Pysc2Launcher(sc2_path, game_version, timeout_s)
        self.restarts = 0
        self.last_error: str | None = None
        self._game: LaunchedGame | None = None
        self._geometry: Geometry | None = None
        self._roster: Roster | None = None
        self._table = None
        self._obs = None
        self._ally_base_type: int | None = None
        self._max_reward: float | None = None
        self._episode_steps = 0
        self._step_id = 0
        self._episodes = 0
        atexit.register(self.close)

    # ------------------------------------------------------------------ public
    def reset(self, key=None) -> tuple[SC2State, TimeStep]:
        """Start an episode (launching the game on the first call or after a crash)."""
        load_pysc2()  # a clear ImportError first when the extra is not installed
        if self.seed is None and self._game is None:
            self.seed = _seed_from_key(key)
        self._new_episode()
        self._step_id += 1
        ob = self._obs
        ts = TimeStep(
            obs=ob.obs, world_state=ob.world_state, avail=ob.avail, visible=ob.visible,
            reward=np.float32(0.0), done=np.bool_(False), terminated=np.bool_(False), truncated=np.bool_(False),
            final_world_state=ob.world_state, episode_return=np.float32(0.0), episode_length=np.int32(0),
            won=np.bool_(False),
        )
        return SC2State(np.float32(0.0), np.int32(0), self._step_id), ts

    def step(self, key, state: SC2State, actions) -> tuple[SC2State, TimeStep]:
        """One env step: the actions for step_mul game loops, then observe; auto-reset when done."""
        del key  # the game's randomness is its own (seeded at launch)
        if self._game is None or self._roster is None:
            raise RuntimeError("call reset() before step() (no game is running)")
        if int(state.step_id) != self._step_id:
            raise ValueError(
                f"stale state (from env step {int(state.step_id)}, the game is at {self._step_id}): a real game "
                "cannot go back; pass the state the last reset/step returned"
            )
        actions = self.check_actions(actions)
        before = self._table
        try:
            self._send(self.layout.commands(actions, before))
            self._game.controller.step(self.step_mul)
            response = self._game.controller.observe()
        except self._crash_errors() as e:
            return self._after_crash(e, state, "step")
        after = carry_maxima(table_from_raw(response.observation.raw_data.units, self._roster), before)
        self.layout.record(actions, before, after)
        outcome = self._outcome(after, response)
        won = outcome == 1
        if self.reward_kind == "smac":
            reward = smac_reward(before, after, self.num_agents, won, self._max_reward)
        else:
            reward = smax_reward(before, after, self.num_agents, won)
        self._table = after
        self._episode_steps += 1
        terminated = outcome is not None
        truncated = not terminated and self._episode_steps >= self.episode_limit
        done = terminated or truncated
        reached = self.layout.observe(after)
        ep_ret = np.float32(state.episode_return + reward)
        ep_len = np.int32(state.episode_length + 1)
        if done:
            self._episodes += 1
            self._new_episode()
        else:
            self._obs = reached
        self._step_id += 1
        ob = self._obs
        ts = TimeStep(
            obs=ob.obs, world_state=ob.world_state, avail=ob.avail, visible=ob.visible,
            reward=np.float32(reward), done=np.bool_(done), terminated=np.bool_(terminated),
            truncated=np.bool_(truncated), final_world_state=reached.world_state, episode_return=ep_ret,
            episode_length=ep_len, won=np.bool_(won and done),
        )
        new_state = SC2State(np.float32(0.0 if done else ep_ret), np.int32(0 if done else ep_len), self._step_id)
        return new_state, ts

    def check_actions(self, actions) -> np.ndarray:
        """int [N] actions, each in range and available (an unavailable action is a caller's bug: SMAC
        asserts the same)."""
        a = np.asarray(actions)
        if a.shape != (self.num_agents,):
            raise ValueError(f"actions must have shape ({self.num_agents},) (one per agent), got {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"actions must be integers (action indices), got dtype {a.dtype}")
        if np.any((a < 0) | (a >= self.num_actions)):
            raise ValueError(f"actions {a.tolist()} out of range [0, {self.num_actions})")
        ok = self._obs.avail[np.arange(self.num_agents), a]
        if not ok.all():
            bad = {int(i): int(a[i]) for i in np.flatnonzero(~ok)}
            raise ValueError(f"unavailable actions {bad} (agent: action); ts.avail says which are allowed")
        return a.astype(np.int64)

    @property
    def units(self):
        """The current observation's UnitTable (roster order: allies, then enemies)."""
        return self._table

    @property
    def roster(self) -> Roster | None:
        """The episode's unit tags and kinds."""
        return self._roster

    @property
    def game_pid(self) -> int | None:
        """The game's process id (None for a game not started as a process)."""
        return self._game.pid if self._game is not None else None

    def close(self) -> None:
        if self._game is not None:
            self._game.close()
            self._game = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ game management
    def _crash_errors(self):
        m = load_pysc2()
        return (m.protocol.ConnectionError, m.protocol.ProtocolError, m.remote_controller.ConnectError,
                m.sc_process.SC2LaunchError, OSError, SC2GameCrashed)

    def _after_crash(self, error: Exception, state: SC2State, where: str):
        self._record_crash(error, where)
        if self.on_crash == "raise":
            raise SC2GameCrashed(
                f"StarCraft II stopped answering during {where} (step {self._episode_steps} of the episode): "
                f"{self.last_error}. The episode is lost; reset() launches a new game."
            ) from error
        warnings.warn(f"{self.name}: {self.last_error}; launching a new game (restart {self.restarts})",
                      RuntimeWarning, stacklevel=3)
        final_ws = self._obs.world_state
        self._new_episode()
        self._step_id += 1
        ob = self._obs
        ts = TimeStep(
            obs=ob.obs, world_state=ob.world_state, avail=ob.avail, visible=ob.visible,
            reward=np.float32(0.0), done=np.bool_(True), terminated=np.bool_(False), truncated=np.bool_(True),
            final_world_state=final_ws, episode_return=np.float32(state.episode_return),
            episode_length=np.int32(state.episode_length + 1), won=np.bool_(False),
        )
        return SC2State(np.float32(0.0), np.int32(0), self._step_id), ts

    def _record_crash(self, error: Exception, where: str) -> None:
        self.last_error = f"the game died during {where}: {type(error).__name__}: {error}"
        if self._game is not None:
            self._game.close()
            self._game = None
        self._roster = None
        self.restarts += 1

    def _new_episode(self) -> None:
        """Kill every unit and let the map respawn them (SMAC's reset); launch first if needed."""
        for attempt in range(self.max_restarts + 1):
            try:
                if self._game is None:
                    self._launch()
                else:
                    controller = self._game.controller
                    m = load_pysc2()
                    if controller.status == m.protocol.Status.ended:
                        controller.restart()  # the game itself ended (a player result came)
                    else:
                        self._kill_all()
                        controller.step(2)
                self._init_units()
                return
            except (SC2InstallError, RosterError):
                raise  # nothing a new game would change
            except self._crash_errors() as e:
                if attempt == self.max_restarts:
                    raise SC2GameCrashed(
                        f"could not start an episode of {self.name} after {attempt + 1} tries: {type(e).__name__}: {e}"
                    ) from e
                self._record_crash(e, "reset")

    def _launch(self) -> None:
        m = load_pysc2()
        sc_pb = m.sc_pb
        spec = self.spec
        map_data = self.launcher.map_data(spec)  # raises SC2InstallError before anything starts
        self._game = game = self.launcher.launch()
        create = sc_pb.RequestCreateGame(
            local_map=sc_pb.LocalMap(map_path=spec.path, map_data=map_data), realtime=False
        )
        if self.seed is not None:
            create.random_seed = int(self.seed)
        create.player_setup.add(type=sc_pb.Participant)
        create.player_setup.add(
            type=sc_pb.Computer,
            race=getattr(m.common_pb, RACES[spec.enemy_race]),
            difficulty=getattr(sc_pb, DIFFICULTIES[self.difficulty]),
        )
        game.controller.create_game(create)
        join = sc_pb.RequestJoinGame(
            race=getattr(m.common_pb, RACES[spec.ally_race]), options=sc_pb.InterfaceOptions(raw=True, score=False)
        )
        game.controller.join_game(join)
        self._geometry = _geometry(game.controller.game_info().start_raw)
        self._ally_base_type = None

    def _kill_all(self) -> None:
        d = load_pysc2().debug_pb
        response = self._game.controller.observe()
        tags = [u.tag for u in response.observation.raw_data.units if u.owner in (ALLY_OWNER, ENEMY_OWNER)]
        if tags:
            self._game.controller.debug([d.DebugCommand(kill_unit=d.DebugKillUnit(tag=tags))])

    def _init_units(self) -> None:
        """Wait for both armies (SC2 may create units over a few loops), then fix the episode's roster."""
        controller = self._game.controller
        na, ne = self.spec.num_allies, self.spec.num_enemies
        for _ in range(MAX_SPAWN_LOOPS):
            raw = list(controller.observe().observation.raw_data.units)
            allies = [u for u in raw if u.owner == ALLY_OWNER]
            enemies = [u for u in raw if u.owner == ENEMY_OWNER]
            if len(allies) > na or len(enemies) > ne:
                raise RosterError(
                    f"the map loaded as {self.spec.name} has {len(allies)} ally and {len(enemies)} enemy units; SMAC's "
                    f"{self.spec.name} has {na} and {ne}. Is $SC2PATH/Maps/{self.spec.path} the SMAC map?"
                )
            if len(allies) == na and len(enemies) == ne:
                break
            controller.step(1)
        else:
            raise SC2GameCrashed(
                f"the armies did not (re)spawn within {MAX_SPAWN_LOOPS} game loops: saw {len(allies)}/{na} allies, "
                f"{len(enemies)}/{ne} enemies. Is $SC2PATH/Maps/{self.spec.path} the SMAC map (its trigger respawns "
                "the units)?"
            )
        if self._ally_base_type is None:
            self._ally_base_type = min(int(u.unit_type) for u in allies)
        ally_kinds = unit_kinds(allies, self.spec, self._ally_base_type)
        enemy_kinds = unit_kinds(enemies, self.spec, self._ally_base_type)
        check_roster(self.spec, ally_kinds, enemy_kinds)
        # SMAC's order: allies by (type id, x, y); enemies as the raw data lists them, unless the layout
        # wants another order.
        a_order = sorted(range(na), key=lambda i: (allies[i].unit_type, allies[i].pos.x, allies[i].pos.y))
        e_order = self.layout.enemy_order(enemy_kinds, [(u.pos.x, u.pos.y) for u in enemies])
        units = [allies[i] for i in a_order] + [enemies[i] for i in e_order]
        kinds = tuple([ally_kinds[i] for i in a_order] + [enemy_kinds[i] for i in e_order])
        self._roster = Roster(np.array([u.tag for u in units], np.uint64), kinds, na)
        self._table = table_from_raw(units, self._roster)
        if self._max_reward is None:
            self._max_reward = max_smac_reward(self.spec, self._table, na)
        self.layout.start(self._roster, self._table, self._geometry)
        self._obs = self.layout.observe(self._table)
        self._episode_steps = 0

    def _send(self, commands) -> None:
        if not commands:
            return
        m = load_pysc2()
        sc_pb, raw_pb, common_pb = m.sc_pb, m.raw_pb, m.common_pb
        actions = []
        for c in commands:
            cmd = raw_pb.ActionRawUnitCommand(ability_id=c.ability, unit_tags=[c.unit_tag], queue_command=False)
            if c.target_pos is not None:
                cmd.target_world_space_pos.CopyFrom(common_pb.Point2D(x=c.target_pos[0], y=c.target_pos[1]))
            elif c.target_tag:
                cmd.target_unit_tag = c.target_tag
            actions.append(sc_pb.Action(action_raw=raw_pb.ActionRaw(unit_command=cmd)))
        self._game.controller.actions(sc_pb.RequestAction(actions=actions))

    def _outcome(self, table, response) -> int | None:
        """1 won, -1 lost, 0 draw, None running. A side with no units, or (MMM maps) only medivacs, is out."""
        if response.player_result:  # the game itself ended
            sc_pb = load_pysc2().sc_pb
            mine = [r.result for r in response.player_result if r.player_id == 1]
            result = mine[0] if mine else sc_pb.Defeat
            return {sc_pb.Victory: 1, sc_pb.Tie: 0}.get(result, -1)
        na = self.num_agents
        army = table.alive & np.array([k != "medivac" for k in self._roster.kinds])
        allies_out, enemies_out = not army[:na].any(), not army[na:].any()
        if allies_out and enemies_out:
            return 0
        if allies_out:
            return -1
        if enemies_out:
            return 1
        return None


def _geometry(start_raw) -> Geometry:
    """Map size, playable area and the pathing grid, read as SMAC reads it: 1 bit per cell in rows of
    increasing y (MSB first) -> pathing[x, y] = bit; older games' 8-bit grids are 0 where pathable and
    stored top row first."""
    sx, sy = int(start_raw.map_size.x), int(start_raw.map_size.y)
    grid = start_raw.pathing_grid
    data = np.frombuffer(grid.data, np.uint8)
    if grid.bits_per_pixel == 1 and data.size * 8 >= sx * sy:
        pathing = np.unpackbits(data)[: sx * sy].reshape(sy, sx).T.astype(bool)
    elif grid.bits_per_pixel == 8 and data.size >= sx * sy:
        pathing = ~np.flip(data[: sx * sy].reshape(sx, sy).astype(bool).T, axis=1)
    else:  # no grid: every cell pathable
        pathing = np.ones((sx, sy), bool)
    p0, p1 = start_raw.playable_area.p0, start_raw.playable_area.p1
    return Geometry((sx, sy), (float(p0.x), float(p0.y)), (float(p1.x), float(p1.y)), pathing)


# ============================================================================ several games
class SC2VecEnv:
    """E games with a leading axis E on every TimeStep field; the games step concurrently (threads: the
    work is in the game processes and the sockets)."""

    def __init__(self, envs: list[SC2Env]):
        if not envs:
            raise ValueError("SC2VecEnv needs at least one SC2Env")
        self.envs = envs
        first = envs[0]
        for attr in ("name", "agents", "num_agents", "num_actions", "obs_dim", "state_dim", "max_steps", "has_win"):
            setattr(self, attr, getattr(first, attr))
        self.num_envs = len(envs)
        self._pool = ThreadPoolExecutor(max_workers=len(envs), thread_name_prefix="sc2")

    def reset(self, key=None) -> tuple[SC2State, TimeStep]:
        load_pysc2()  # once, before the threads
        base = _seed_from_key(key)
        for i, env in enumerate(self.envs):
            if env.seed is None and base is not None:
                env.seed = (base + i) % (2**31 - 1)
        out = list(self._pool.map(lambda e: e.reset(None), self.envs))
        return _stack([s for s, _ in out]), _stack([t for _, t in out])

    def step(self, key, state: SC2State, actions) -> tuple[SC2State, TimeStep]:
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs}, {self.num_agents}), got {actions.shape}")
        states = [SC2State(*(np.asarray(f)[i] for f in state[:2]), int(np.asarray(state.step_id)[i]))
                  for i in range(self.num_envs)]
        out = list(self._pool.map(lambda i: self.envs[i].step(None, states[i], actions[i]), range(self.num_envs)))
        return _stack([s for s, _ in out]), _stack([t for _, t in out])

    @property
    def restarts(self) -> int:
        return sum(e.restarts for e in self.envs)

    def close(self) -> None:
        for e in self.envs:
            e.close()
        self._pool.shutdown(wait=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _stack(items):
    cls = type(items[0])
    return cls(*(np.stack([np.asarray(f) for f in fields]) for fields in zip(*items)))


__all__ = [
    "SC2Env", "SC2VecEnv", "SC2State", "SC2InstallError", "SC2GameCrashed", "RosterError", "Pysc2Launcher",
    "LaunchedGame", "check_install", "default_sc2_path", "INSTALL_HINT", "load_pysc2",
]
