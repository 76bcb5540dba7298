"""A fake StarCraft II: a websocket server speaking s2clientprotocol that plays a small scripted battle.

Test infrastructure (standard library + s2clientprotocol). It lets the bridge's real client stack
(pysc2's run_configs, StarcraftProcess, RemoteController, protocol) run end to end without the game:

- `FakeSC2Server`: serves one game at ws://127.0.0.1:<port>/sc2api, in a thread (`start()`) or as the
  process (`python fake_server.py -listen 127.0.0.1 -port N ...`, the command line pysc2 gives SC2_x64).
  Requests: ping, create_game (map data = a fake map, below), join_game (raw interface), game_info,
  observation (raw units), action (raw unit commands: move 16, attack 23, stop 4, heal 386), step,
  debug (kill_unit), restart_game, leave_game, quit.
- The battle, per game loop: the learner's units (player 1) follow their last command and, like SMAC's
  "RL" units, never attack on their own; the bot's units (player 2) attack the closest learner unit
  (`enemy_ai="attack"`), only shoot what is in range (`"hold"`), or do nothing (`"passive"`). A hit
  takes shields first. Dead units leave the raw data. When no unit is left the map "trigger" respawns
  both armies `respawn_delay` loops later with new tags (SMAC's reset kills all units and relies on it).
  Weapon cooldowns are reported for the learner's units only, as SC2 does.
- A fake map is JSON (`fake_map(name, ...)`): the SMAC roster of `name` (learner's units with SMAC-style
  custom type ids 1970 + kind offset, the bot's with SC2's stock ids), positions, options.
  `crash_at_loop` makes the server die at that game loop (the process exits; in a thread it drops the
  connection), `end_game_on_wipe` ends the game with a player result when a side is wiped out.
- `FakeLauncher`: an `SC2Env` launcher that starts a server thread per game (fast, no process).
- `write_fake_install(root, maps)`: a fake `SC2PATH` (Versions/Base75689/SC2_x64 is a script that starts
  this server; Maps/SMAC_Maps/<name>.SC2Map fake maps) for pysc2's real launch path.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

try:
    from ._proto import install_hook
except ImportError:  # run as a script by a fake SC2_x64: load the sibling module alone (no jax import)
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_sc2_proto", Path(__file__).with_name("_proto.py"))
    _mod = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_mod)
    install_hook = _mod.install_hook

install_hook()
from s2clientprotocol import raw_pb2 as raw_pb  # noqa: E402
from s2clientprotocol import sc2api_pb2 as sc_pb  # noqa: E402

ALLY_TYPE_BASE = 1970  # SMAC maps give the learner's units their own type ids; any base works for the bridge
STOCK_IDS = {
    "colossus": 4, "baneling": 9, "marine": 48, "marauder": 51, "medivac": 54, "zealot": 73, "stalker": 74,
    "spinecrawler": 98, "zergling": 105, "hydralisk": 107,
}
# kind: health, shield, speed (map units per game second), range, damage, cooldown (loops), radius
STATS = {
    "marine": (45, 0, 2.25, 5.0, 6, 15, 0.375),
    "marauder": (125, 0, 2.25, 6.0, 10, 25, 0.5625),
    "medivac": (150, 0, 2.5, 4.0, 0, 1, 0.75),
    "stalker": (80, 80, 2.95, 6.0, 13, 35, 0.625),
    "zealot": (100, 50, 2.25, 0.1, 16, 22, 0.5),
    "colossus": (200, 150, 2.25, 7.0, 20, 24, 1.0),
    "hydralisk": (90, 0, 2.25, 5.0, 12, 10, 0.625),
    "zergling": (35, 0, 2.95, 0.1, 5, 11, 0.375),
    "baneling": (30, 0, 2.5, 0.25, 16, 1, 0.375),
    "spinecrawler": (300, 0, 0.0, 7.0, 25, 30, 1.0),
}
LOOPS_PER_GAME_SECOND = 16.0
HEAL_PER_LOOP = 9.0 / LOOPS_PER_GAME_SECOND
MOVE, ATTACK, ATTACK_REDIRECT, STOP, HEAL = 16, 23, 3674, 4, 386
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ============================================================================ fake maps
def fake_map(name: str, enemy_ai: str = "attack", gap: float = 12.0, ally_damage: float = 1.0,
             enemy_damage: float = 1.0, respawn_delay: int = 1, crash_at_loop: int | None = None,
             end_game_on_wipe: bool = False, map_size: int = 32, allies=None, enemies=None,
             ally_kind_order=None) -> bytes:
    """The fake map file of SMAC map `name` (its roster from envs_jax.sc2.maps unless given as (kind, count)
    lists), armies `gap` apart around the map's centre line."""
    if allies is None or enemies is None or ally_kind_order is None:
        from envs_jax.sc2.maps import SMAC_MAPS  # the roster table (only needed when not given)

        spec = SMAC_MAPS[name]
        allies, enemies, ally_kind_order = allies or spec.allies, enemies or spec.enemies, spec.ally_kind_order
    cx = cy = map_size / 2
    units = []
    for owner, roster, x0 in ((1, allies, cx - gap / 2), (2, enemies, cx + gap / 2)):
        flat = [k for k, c in roster for _ in range(c)]
        for i, kind in enumerate(flat):
            row, col = i % 8, i // 8
            y = cy + (row - (min(len(flat), 8) - 1) / 2) * 1.2
            x = x0 + (-col if owner == 1 else col) * 1.2
            utype = ALLY_TYPE_BASE + list(ally_kind_order).index(kind) if owner == 1 else STOCK_IDS[kind]
            units.append({"owner": owner, "kind": kind, "unit_type": utype, "pos": [round(x, 3), round(y, 3)]})
    return json.dumps({
        "fake_sc2_map": 1, "name": name, "map_size": [map_size, map_size],
        "playable_area": [[0, 0], [map_size, map_size]], "units": units, "enemy_ai": enemy_ai,
        "ally_damage": ally_damage, "enemy_damage": enemy_damage, "respawn_delay": respawn_delay,
        "crash_at_loop": crash_at_loop, "end_game_on_wipe": end_game_on_wipe,
    }).encode()


class _Unit:
    __slots__ = ("tag", "owner", "kind", "unit_type", "x", "y", "health", "health_max", "shield", "shield_max",
                 "energy", "speed", "range", "damage", "cooldown_max", "cooldown", "radius", "order")

    def __init__(self, tag, spec, damage_scale):
        health, shield, speed, rng, damage, cd, radius = STATS[spec["kind"]]
        self.tag, self.owner, self.kind, self.unit_type = tag, spec["owner"], spec["kind"], spec["unit_type"]
        self.x, self.y = spec["pos"]
        self.health = self.health_max = float(health)
        self.shield = self.shield_max = float(shield)
        self.energy = 50.0 if self.kind == "medivac" else 0.0
        self.speed, self.range, self.radius = speed / LOOPS_PER_GAME_SECOND, rng, radius
        self.damage, self.cooldown_max, self.cooldown = damage * damage_scale, cd, 0.0
        self.order = None  # ("move", (x, y)) | ("attack", tag) | ("heal", tag) | None


class FakeGame:
    """The scripted battle on one fake map."""

    def __init__(self, map_spec: dict):
        self.map = map_spec
        self.game_loop = 0
        self.units: dict[int, _Unit] = {}
        self._next_tag = 1 << 32
        self._respawn_in: int | None = None
        self.result: dict[int, int] | None = None  # player_id -> sc_pb.Result once the game ended
        self.crashed = False
        self.spawn()

    def spawn(self) -> None:
        for spec in self.map["units"]:
            scale = self.map["ally_damage"] if spec["owner"] == 1 else self.map["enemy_damage"]
            self._next_tag += 1
            self.units[self._next_tag] = _Unit(self._next_tag, spec, scale)

    def alive(self, owner: int) -> list[_Unit]:
        return [u for u in self.units.values() if u.owner == owner]

    def kill(self, tags) -> None:
        for t in tags:
            self.units.pop(int(t), None)

    def command(self, cmd) -> int:
        """Apply one ActionRawUnitCommand; returns an ActionResult."""
        target = cmd.WhichOneof("target")
        for tag in cmd.unit_tags:
            u = self.units.get(tag)
            if u is None or u.owner != 1:
                return 3  # Error
            if cmd.ability_id == STOP:
                u.order = None
            elif cmd.ability_id == MOVE and target == "target_world_space_pos":
                u.order = ("move", (cmd.target_world_space_pos.x, cmd.target_world_space_pos.y))
            elif cmd.ability_id in (ATTACK, ATTACK_REDIRECT) and target == "target_unit_tag":
                u.order = ("attack", cmd.target_unit_tag)
            elif cmd.ability_id == HEAL and target == "target_unit_tag" and u.kind == "medivac":
                u.order = ("heal", cmd.target_unit_tag)
            else:
                return 2  # NotSupported
        return 1  # Success

    @staticmethod
    def _gap(a: _Unit, b: _Unit) -> float:
        return math.hypot(a.x - b.x, a.y - b.y) - a.radius - b.radius

    def _move_towards(self, u: _Unit, x: float, y: float) -> bool:
        dx, dy = x - u.x, y - u.y
        d = math.hypot(dx, dy)
        if d <= u.speed:
            u.x, u.y = x, y
            return True
        lo, hi = self.map["playable_area"]
        u.x = min(max(u.x + dx / d * u.speed, lo[0]), hi[0])
        u.y = min(max(u.y + dy / d * u.speed, lo[1]), hi[1])
        return False

    def _hit(self, shooter: _Unit, target: _Unit) -> None:
        if shooter.cooldown > 0:
            return
        damage = shooter.damage
        absorbed = min(target.shield, damage)
        target.shield -= absorbed
        target.health -= damage - absorbed
        shooter.cooldown = shooter.cooldown_max

    def _act(self, u: _Unit) -> None:
        if u.owner == 2:
            ai = self.map["enemy_ai"]
            foes = self.alive(1)
            if ai == "passive" or not foes:
                return
            target = min(foes, key=lambda f: (self._gap(u, f), f.tag))
            if self._gap(u, target) <= u.range:
                self._hit(u, target)
            elif ai == "attack":
                self._move_towards(u, target.x, target.y)
            return
        if u.order is None:
            return  # SMAC's RL units never start attacking on their own
        kind, arg = u.order
        if kind == "move":
            if self._move_towards(u, *arg):
                u.order = None
            return
        target = self.units.get(arg)
        if target is None or target.health <= 0:
            u.order = None
            return
        if kind == "attack":
            if self._gap(u, target) <= u.range:
                self._hit(u, target)
            else:
                self._move_towards(u, target.x, target.y)
        elif kind == "heal":
            if self._gap(u, target) <= u.range:
                amount = min(HEAL_PER_LOOP, target.health_max - target.health, 3 * u.energy)
                target.health += amount
                u.energy -= amount / 3
            else:
                self._move_towards(u, target.x, target.y)

    def step(self, loops: int) -> None:
        for _ in range(loops):
            if self.result is not None:
                return
            self.game_loop += 1
            if self.map.get("crash_at_loop") and self.game_loop >= self.map["crash_at_loop"]:
                self.crashed = True
                return
            for u in sorted(self.units.values(), key=lambda u: u.tag):
                if u.health > 0:
                    self._act(u)
            for u in list(self.units.values()):
                u.cooldown = max(0.0, u.cooldown - 1)
                if u.kind == "medivac":
                    u.energy = min(200.0, u.energy + 0.5625 / LOOPS_PER_GAME_SECOND)
                if u.health <= 0:
                    del self.units[u.tag]
            self._triggers()

    def _triggers(self) -> None:
        mine, theirs = self.alive(1), self.alive(2)
        if self.map.get("end_game_on_wipe") and (not mine or not theirs) and (mine or theirs):
            won = bool(mine)
            self.result = {1: sc_pb.Victory if won else sc_pb.Defeat, 2: sc_pb.Defeat if won else sc_pb.Victory}
            return
        if mine or theirs:
            self._respawn_in = None
            return
        if self._respawn_in is None:
            self._respawn_in = self.map.get("respawn_delay", 1)
        self._respawn_in -= 1
        if self._respawn_in <= 0:
            self._respawn_in = None
            self.spawn()

    def observation(self, response) -> None:
        obs = response.observation
        obs.game_loop = self.game_loop
        obs.player_common.player_id = 1
        for u in sorted(self.units.values(), key=lambda u: u.tag):
            r = obs.raw_data.units.add(
                display_type=raw_pb.Visible, alliance=raw_pb.Self if u.owner == 1 else raw_pb.Enemy, tag=u.tag,
                unit_type=u.unit_type, owner=u.owner, facing=0.0, radius=u.radius, build_progress=1.0,
                health=u.health, health_max=u.health_max, shield=u.shield, shield_max=u.shield_max,
                energy=u.energy, energy_max=200.0 if u.kind == "medivac" else 0.0, is_flying=u.kind == "medivac",
            )
            r.pos.x, r.pos.y, r.pos.z = u.x, u.y, 8.0
            if u.owner == 1:  # SC2 reports these for the player's own units only
                r.weapon_cooldown = u.cooldown
        if self.result is not None:
            for pid, res in self.result.items():
                response.player_result.add(player_id=pid, result=res)

    def game_info(self, info, map_path: str) -> None:
        sx, sy = self.map["map_size"]
        (x0, y0), (x1, y1) = self.map["playable_area"]
        info.map_name = self.map.get("name", "fake")
        info.local_map_path = map_path
        info.player_info.add(player_id=1, type=sc_pb.Participant)
        info.player_info.add(player_id=2, type=sc_pb.Computer)
        raw = info.start_raw
        raw.map_size.x, raw.map_size.y = sx, sy
        # pathable inside the playable area, minus a one-cell border (as SC2 maps have cliffs at the edge)
        bits = bytearray()
        for y in range(sy):
            row = [int(x0 + 1 <= x < x1 - 1 and y0 + 1 <= y < y1 - 1) for x in range(sx)]
            row += [0] * (-len(row) % 8)
            bits += bytes(int("".join(map(str, row[i : i + 8])), 2) for i in range(0, len(row), 8))
        for grid in (raw.pathing_grid, raw.placement_grid):
            grid.bits_per_pixel, grid.size.x, grid.size.y, grid.data = 1, sx, sy, bytes(bits)
        raw.terrain_height.bits_per_pixel, raw.terrain_height.size.x, raw.terrain_height.size.y = 8, sx, sy
        raw.terrain_height.data = bytes([128]) * (sx * sy)
        raw.playable_area.p0.x, raw.playable_area.p0.y = int(x0), int(y0)
        raw.playable_area.p1.x, raw.playable_area.p1.y = int(x1), int(y1)


# ============================================================================ websocket + protocol
class _Closed(Exception):
    pass


class _WebSocket:
    """The server side of RFC 6455 over a connected socket, for one client (no extensions)."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.buf = b""

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.conn.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise _Closed()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self) -> bool:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.conn.recv(4096)
            if not chunk:
                return False
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        if path != "/sc2api" or "sec-websocket-key" not in headers:
            self.conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + _WS_GUID).encode()).digest())
        self.conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        return True

    def recv(self) -> bytes:
        """One message (text or binary frames alike: pysc2 sends protobuf bytes in text frames)."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if masked else b""
            payload = self._read(n)
            if masked:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload)) if n < 64 else _unmask(payload, mask)
            if opcode == 0x8:
                raise _Closed()
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            if fin:
                return b"".join(parts)

    def _send_frame(self, opcode: int, data: bytes) -> None:
        n = len(data)
        if n < 126:
            head = struct.pack(">BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
        self.conn.sendall(head + data)

    def send(self, data: bytes) -> None:
        self._send_frame(0x2, data)  # binary: websocket-client would try to decode a text frame as UTF-8


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class FakeSC2Server:
    """One fake game on a websocket. `start()` serves it in a thread; `serve()` in the calling thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.sock = socket.create_server((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.status = sc_pb.launched
        self.game: FakeGame | None = None
        self.map_path = ""
        self.setup: dict = {}
        self.last_commands: list = []  # raw unit commands of the last RequestAction
        self.requests: dict[str, int] = {}
        self.busy_s = 0.0  # time spent handling requests (parse, simulate, serialize)
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # ---- lifecycle
    def start(self) -> "FakeSC2Server":
        self._thread = threading.Thread(target=self.serve, name=f"fake-sc2-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve clients one after another until quit, a crash or stop()."""
        try:
            while not self._stopped.is_set():
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                self._conn = conn
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    self._session(_WebSocket(conn))
                except (_Closed, OSError):
                    pass
                finally:
                    self._close_conn()
        finally:
            self._close_listener()

    def stop(self) -> None:
        self._stopped.set()
        self._close_conn()
        self._close_listener()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def crash(self) -> None:
        """Die like a crashed game: connection and listening socket gone, no goodbye."""
        self.stop()

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _close_listener(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- protocol
    def _session(self, ws: _WebSocket) -> None:
        if not ws.handshake():
            return
        while not self._stopped.is_set():
            data = ws.recv()
            t0 = time.perf_counter()
            request = sc_pb.Request.FromString(data)
            name = request.WhichOneof("request")
            self.requests[name] = self.requests.get(name, 0) + 1
            if name == "quit":
                self._stopped.set()
                return
            response = self._handle(request, name)
            if self.game is not None and self.game.crashed:
                self._stopped.set()
                return  # the "process" dies without answering
            out = response.SerializeToString()
            self.busy_s += time.perf_counter() - t0
            ws.send(out)

    def _handle(self, request, name: str):
        response = sc_pb.Response(id=request.id)
        handler = getattr(self, f"_on_{name}", None)
        if handler is None:
            response.error.append(f"fake SC2 server: request {name!r} not supported")
        else:
            try:
                handler(getattr(request, name), response)
            except _RequestError as e:
                response.error.append(str(e))
        response.status = self.status
        return response

    def _require(self, *statuses) -> None:
        if self.status not in statuses:
            names = ", ".join(sc_pb.Status.Name(s) for s in statuses)
            raise _RequestError(f"request invalid in status {sc_pb.Status.Name(self.status)} (valid: {names})")

    def _on_ping(self, req, response) -> None:
        response.ping.SetInParent()
        response.ping.game_version = "4.10.0"
        response.ping.base_build = 75689

    def _on_create_game(self, req, response) -> None:
        self._require(sc_pb.launched, sc_pb.ended, sc_pb.in_game)
        response.create_game.SetInParent()
        participants = [p for p in req.player_setup if p.type == sc_pb.Participant]
        computers = [p for p in req.player_setup if p.type == sc_pb.Computer]
        if len(participants) != 1 or len(computers) != 1:
            response.create_game.error = sc_pb.ResponseCreateGame.InvalidPlayerSetup
            response.create_game.error_details = "the fake server plays one participant against one computer"
            return
        if not req.local_map.map_data:
            response.create_game.error = sc_pb.ResponseCreateGame.MissingMap
            return
        try:
            spec = json.loads(req.local_map.map_data)
            assert spec.get("fake_sc2_map") == 1
        except (ValueError, AssertionError):
            response.create_game.error = sc_pb.ResponseCreateGame.InvalidMapData
            response.create_game.error_details = "not a fake map (the fake server plays fake_map() files only)"
            return
        self.map_spec, self.map_path = spec, req.local_map.map_path
        self.setup = {
            "map_path": req.local_map.map_path, "realtime": req.realtime,
            "random_seed": req.random_seed if req.HasField("random_seed") else None,
            "computer_race": computers[0].race, "difficulty": computers[0].difficulty,
        }
        self.status = sc_pb.init_game

    def _on_join_game(self, req, response) -> None:
        self._require(sc_pb.init_game)
        response.join_game.SetInParent()
        self.setup.update(race=req.race, raw=req.options.raw)
        response.join_game.player_id = 1
        self.game = FakeGame(self.map_spec)
        self.status = sc_pb.in_game

    def _on_restart_game(self, req, response) -> None:
        self._require(sc_pb.in_game, sc_pb.ended)
        response.restart_game.SetInParent()
        self.game = FakeGame(self.map_spec)
        self.status = sc_pb.in_game

    def _on_leave_game(self, req, response) -> None:
        response.leave_game.SetInParent()
        self.game, self.status = None, sc_pb.launched

    def _on_game_info(self, req, response) -> None:
        self._require(sc_pb.in_game, sc_pb.ended)
        self.game.game_info(response.game_info, self.map_path)

    def _on_observation(self, req, response) -> None:
        self._require(sc_pb.in_game, sc_pb.ended)
        self.game.observation(response.observation)

    def _on_action(self, req, response) -> None:
        self._require(sc_pb.in_game)
        response.action.SetInParent()
        self.last_commands = []
        for action in req.actions:
            if action.HasField("action_raw") and action.action_raw.HasField("unit_command"):
                cmd = action.action_raw.unit_command
                self.last_commands.append(cmd)
                response.action.result.append(self.game.command(cmd))
            else:
                response.action.result.append(2)  # NotSupported

    def _on_step(self, req, response) -> None:
        self._require(sc_pb.in_game)
        self.game.step(max(1, req.count))
        response.step.simulation_loop = self.game.game_loop
        if self.game.result is not None:
            self.status = sc_pb.ended

    def _on_debug(self, req, response) -> None:
        self._require(sc_pb.in_game)
        response.debug.SetInParent()
        for command in req.debug:
            if command.HasField("kill_unit"):
                self.game.kill(command.kill_unit.tag)


class _RequestError(Exception):
    pass


# ============================================================================ launching
class FakeLauncher:
    """`SC2Env(launcher=FakeLauncher(...))`: each game is a FakeSC2Server thread; `servers[-1]` is the
    current one (crash it with `.crash()`). Map options go to `fake_map`, or pass `maps={name: bytes}`."""

    def __init__(self, maps: dict[str, bytes] | None = None, **map_options):
        self.maps, self.map_options = dict(maps or {}), map_options
        self.servers: list[FakeSC2Server] = []

    def check(self, spec) -> None:
        pass

    def map_data(self, spec) -> bytes:
        return self.maps.get(spec.name) or fake_map(spec.name, **self.map_options)

    def launch(self):
        from envs_jax.sc2._proto import load_pysc2
        from envs_jax.sc2.env import LaunchedGame

        server = FakeSC2Server().start()
        self.servers.append(server)
        controller = load_pysc2().remote_controller.RemoteController(server.host, server.port, timeout_seconds=10)
        return LaunchedGame(controller, None, on_close=server.stop)


def write_fake_install(root: str | os.PathLike, maps: dict[str, bytes], build: int = 75689,
                       python: str = sys.executable) -> Path:
    """A fake StarCraft II folder for pysc2's launch path: Versions/Base<build>/SC2_x64 starts this server
    (pysc2 passes -listen/-port), Maps/SMAC_Maps/<name>.SC2Map hold the given fake maps. Returns root."""
    root = Path(root)
    exe = root / "Versions" / f"Base{build:05d}" / "SC2_x64"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text(f'#!/bin/sh\nexec "{python}" "{Path(__file__).resolve()}" "$@"\n')
    exe.chmod(0o755)
    (root / "Maps" / "SMAC_Maps").mkdir(parents=True, exist_ok=True)
    for name, data in maps.items():
        (root / "Maps" / "SMAC_Maps" / f"{name}.SC2Map").write_bytes(data)
    return root


def main(argv: list[str]) -> int:
    """Command line of SC2_x64 as pysc2 calls it: -listen HOST -port PORT [other flags ignored]."""
    def value(flag: str, default: str) -> str:
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else default

    server = FakeSC2Server(value("-listen", "127.0.0.1"), int(value("-port", "0")))
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
