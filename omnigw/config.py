"""The whole YAML configuration as pydantic models, and the single loader.

Every key has a default, so an empty file is a working lab setup: SQLite in a
local state directory, loopback binds, the embedded charging backend. Unknown
keys and wrong types are errors that name the path to the bad key.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    ValidationError,
    model_validator,
)

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Port = Annotated[int, Field(ge=1, le=65535)]


def _ip_address(value: Any) -> IPv4Address | IPv6Address:
    """One check with one message: a union of the two address types reported a failure per
    member, each with pydantic's internal validator names in its path."""
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    try:
        return ip_address(str(value))
    except ValueError:
        raise ValueError(f"not an IPv4 or IPv6 address: {value!r}") from None


BindAddress = Annotated[IPv4Address | IPv6Address, PlainValidator(_ip_address)]


class ConfigError(Exception):
    """The configuration could not be loaded; the message names every bad key."""


def _resolve_secret(value: Any) -> Any:
    """Accept a secret inline, or as `{env: NAME}` / `{file: PATH}` so it stays out of the YAML."""
    if not isinstance(value, dict):
        return value
    if set(value) == {"env"}:
        name = str(value["env"])
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if set(value) == {"file"}:
        path = Path(str(value["file"]))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")


Secret = Annotated[SecretStr, BeforeValidator(_resolve_secret)]


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginThrottle(Section):
    """Failed logins allowed per (client address, email) within a sliding window."""

    max_failures: int = Field(default=5, ge=1)
    window_seconds: float = Field(default=300.0, gt=0)


class ApiConfig(Section):
    bind: BindAddress = IPv4Address("127.0.0.1")
    port: Port = 8080
    # HS256 signing key for JWTs; generated into the state directory when absent.
    jwt_secret: Secret | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=60)
    refresh_token_ttl_seconds: int = Field(default=7 * 86400, ge=300)
    login_throttle: LoginThrottle = LoginThrottle()
    # How long a verified credential is trusted without a store read. Changes made
    # through this instance apply at once; other instances see them after this long.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # The first admin, created when the store has no users. Its password comes
    # from this env var, or is generated and shown once.
    admin_email: str = "admin@example.com"
    admin_password_env: str = "OMNIGW_ADMIN_PASSWORD"
    max_body_bytes: int = Field(default=1 << 20, ge=1024)
    # A connection with no request in hand and none finished for this long is closed
    # (a client sending its headers slowly, or an idle keep-alive connection).
    idle_seconds: float = Field(default=10.0, gt=0, le=3600)
    # How long SIGTERM waits for in-flight requests before closing them.
    drain_grace_seconds: float = Field(default=10.0, ge=0)


class MetricsConfig(Section):
    enabled: bool = True
    bind: BindAddress = IPv4Address("127.0.0.1")
    port: Port = 9464
    # When set, scrapes must send `Authorization: Bearer <token>`.
    bearer_token: Secret | None = None


class StoreConfig(Section):
    # SQLAlchemy async URL; default: sqlite+aiosqlite in the state directory.
    url: str | None = None
    # Substituted into the URL so the password never sits in the YAML.
    password: Secret | None = None
    pool_size: int = Field(default=5, ge=1)
    echo_sql: bool = False


class LogConfig(Section):
    level: LogLevel = "INFO"
    format: Literal["json", "text"] = "json"
    # Per-logger overrides, e.g. {"omnigw.api": "DEBUG"}.
    levels: dict[str, LogLevel] = Field(default_factory=dict)


class CbspSettings(Section):
    """CBSP (TS 48.049) listener and timers."""

    bind: BindAddress = IPv4Address("127.0.0.1")
    port: Port = 48049
    keepalive_seconds: float = Field(default=30.0, gt=0)
    keepalive_timeout_seconds: float = Field(default=10.0, gt=0)
    reset_timeout_seconds: float = Field(default=10.0, gt=0)
    answer_timeout_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)


_LOOPBACK: IPv4Address | IPv6Address = IPv4Address("127.0.0.1")


class SbcapSettings(Section):
    """SBc-AP (TS 29.168) towards MMEs: transport, listener (server-mode peers), timers."""

    # sctp: kernel SCTP, PPID 24. tcp: each message framed over TCP with its stream and
    # PPID; not a standard, for labs and tests between omnigw and its own MME simulator.
    transport: Literal["sctp", "tcp"] = "sctp"
    # Local addresses: the first is bound, the others added to the association (multi-homing).
    bind: list[BindAddress] = Field(default_factory=lambda: [_LOOPBACK])
    port: Port = 29168
    stream: int = Field(default=0, ge=0, le=1)  # the SCTP stream SBc-AP PDUs go on
    answer_timeout_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)
    # OMC-ID (TS 29.168 4.3.4.3.11, ITU-T Q.713 address) sent with every request when set: hex
    omc_id: str | None = Field(default=None, pattern=r"^([0-9a-fA-F]{2}){3,20}$")


_TAI = r"^\d{3}-\d{2,3}-\d{1,5}$"  # mcc-mnc-tac
_ECGI = r"^\d{3}-\d{2,3}-\d{1,9}$"  # mcc-mnc-eci (28 bits)


class CbcPeer(Section):
    """A BSC (CBSP) or an MME (SBc-AP). `server`: it connects to us from `address`;
    `client`: we connect to it (the usual way for an MME, which listens on 29168)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    protocol: Literal["cbsp", "sbcap"] = "cbsp"
    mode: Literal["server", "client"] = "server"
    address: BindAddress
    # An MME's other addresses (multi-homing; client mode).
    addresses: list[BindAddress] = Field(default_factory=list)
    port: Port = 48049
    # The operator this peer belongs to ("mcc-mnc"), so alerts can target an operator's
    # network; when set, every cell it lists must be of this PLMN.
    plmn: str | None = Field(default=None, pattern=r"^\d{3}-\d{2,3}$")
    # The cells this peer serves: CGIs "mcc-mnc-lac-ci" for a BSC, ECGIs "mcc-mnc-eci" for
    # an MME; empty: send it every cell target of its kind.
    cells: list[str] = Field(default_factory=list)
    # An MME's tracking areas ("mcc-mnc-tac"): its List-of-TAIs, and how TAI targets split.
    tais: list[Annotated[str, Field(pattern=_TAI)]] = Field(default_factory=list)
    # An MME's emergency area ids (24 bits); empty: send it every emergency area target.
    emergency_areas: list[Annotated[int, Field(ge=0, le=0xFFFFFF)]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _sbcap_defaults(cls, data: Any) -> Any:
        """An MME listens on 29168 and the CBC connects, unless the config says otherwise."""
        if isinstance(data, dict) and data.get("protocol") == "sbcap":
            data = {"mode": "client", "port": 29168, **data}
        return data

    @model_validator(mode="after")
    def _cells_of_its_plmn(self) -> CbcPeer:
        if self.plmn is not None:
            others = [c for c in self.cells + self.tais if not c.startswith(self.plmn + "-")]
            if others:
                raise ValueError(f"cells {others[:3]} are not of the peer's plmn {self.plmn}")
        if self.protocol == "sbcap":
            if not self.tais:
                raise ValueError("an sbcap peer needs its tais (List-of-TAIs is mandatory)")
            wrong = [c for c in self.cells if not re.match(_ECGI, c)]
            if wrong or any(int(c.rsplit("-", 1)[1]) >= 1 << 28 for c in self.cells):
                raise ValueError(f"an sbcap peer's cells are ECGIs 'mcc-mnc-eci': {wrong[:3]}")
        elif self.tais or self.emergency_areas or self.addresses:
            raise ValueError("tais, emergency_areas and addresses are for sbcap peers")
        return self


class InventoryCell(Section):
    """One cell of the inventory that named areas and polygons resolve to: a GSM cell (its
    CGI) or an LTE cell (its ECGI)."""

    cgi: str | None = Field(default=None, pattern=r"^\d{3}-\d{2,3}-\d{1,5}-\d{1,5}$")
    ecgi: str | None = Field(default=None, pattern=_ECGI)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    azimuth: float | None = Field(default=None, ge=0, lt=360)

    @model_validator(mode="after")
    def _one_identity(self) -> InventoryCell:
        if (self.cgi is None) == (self.ecgi is None):
            raise ValueError("give exactly one of cgi, ecgi")
        return self

    @property
    def cell(self) -> str:
        return self.cgi or self.ecgi or ""


class CbcConfig(Section):
    """Cell Broadcast Centre: peers, timers, defaults, cell inventory and named areas."""

    cbsp: CbspSettings = CbspSettings()
    sbcap: SbcapSettings = SbcapSettings()
    peers: list[CbcPeer] = Field(default_factory=list)
    # Repetition period and count when an alert does not say.
    default_repetition_seconds: int = Field(default=60, ge=2, le=7700)
    cells: list[InventoryCell] = Field(default_factory=list)
    areas: dict[str, list[str]] = Field(default_factory=dict)  # name -> CGIs and ECGIs


class DiameterPeer(Section):
    """A Diameter client (PGW, SMF, DRA) allowed to open a connection to us."""

    host: str = Field(min_length=1)  # its Origin-Host
    realm: str | None = None  # its Origin-Realm, when it must match too


class GyConfig(Section):
    """Credit control for data and time (RFC 4006 application 4, TS 32.299)."""

    service_context_suffix: str = "32251@3gpp.org"  # PS charging; others get 5004
    # Which Subscription-Id names the charging account, taken as it comes.
    account_from: Literal["e164", "imsi", "first", "crm"] = "e164"
    validity_seconds: int = Field(default=1800, ge=0)  # Validity-Time on every grant; 0: none
    threshold_percent: int = Field(default=20, ge=0, lt=100)  # re-authorise at this share left
    # A session with no CCR for this long is terminated towards the OCS and reported.
    idle_seconds: float = Field(default=3900.0, gt=0)
    # Answers kept for replaying duplicates (T flag or a repeated CC-Request-Number).
    duplicate_seconds: float = Field(default=120.0, gt=0)
    # Sent in every CCA: what the client does if we fail (0 TERMINATE, 1 CONTINUE, 2 RETRY_AND_
    # TERMINATE); None leaves the client's own default.
    failure_handling: Literal[0, 1, 2] | None = None


class DiameterConfig(Section):
    """Diameter node: our identity, the listener, who may connect, the Gy application."""

    enabled: bool = True
    bind: BindAddress = IPv4Address("127.0.0.1")
    port: Port = 3868
    origin_host: str = "omnigw.localdomain"
    origin_realm: str = "localdomain"
    peers: list[DiameterPeer] = Field(default_factory=list)
    realms: list[str] = Field(default_factory=list)  # any host of these realms is allowed too
    watchdog_seconds: float = Field(default=30.0, ge=6.0)  # Tw, RFC 3539
    gy: GyConfig = GyConfig()


class SigtranLink(Section):
    """An M3UA association to a signalling gateway (an STP): omnigw is the ASP and connects."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # sctp: kernel SCTP, PPID 3 (RFC 4666). tcp: M3UA over TCP, which RFC 4666 1.3.1 allows.
    transport: Literal["sctp", "tcp"] = "sctp"
    addresses: list[BindAddress] = Field(min_length=1)  # the SGP's (several: multi-homing)
    port: Port = 2905
    # Local addresses and port: an SGP such as osmo-stp knows its ASPs by these.
    local_addresses: list[BindAddress] = Field(default_factory=list)
    local_port: int = Field(default=0, ge=0, le=65535)
    routing_context: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    traffic_mode: Literal["override", "loadshare"] = "loadshare"
    heartbeat_seconds: float | None = Field(default=30.0, gt=0)
    reconnect_max_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _port_needs_address(self) -> SigtranLink:
        if self.local_port and not self.local_addresses:
            raise ValueError("local_port needs local_addresses to bind it on")
        return self


class ReleaseCauses(Section):
    """What a refused call (Q.850 cause) or SMS (RP-Cause, TS 24.011 8.2.5.4) is released with."""

    no_credit: int = Field(ge=1, le=127)
    unknown_subscriber: int = Field(ge=1, le=127)
    failure: int = Field(ge=1, le=127)  # the OCS could not be asked or failed


class CamelConfig(Section):
    """The gsmSCF: CAP v2-v4 prepaid voice and SMS over M3UA/SCCP/TCAP, charged in the OCS.

    Charges are rated like Gy's: `ocs.cgrates.rating` rules match CAMEL charges by the
    service context "camel:<service key>" (Category "call" or "sms" by default; the
    Destination is the other party: the called party of an MO call, the caller of an MT
    one, the recipient of an SMS)."""

    enabled: bool = False
    links: list[SigtranLink] = Field(default_factory=list)
    point_code: int = Field(default=200, ge=0, le=0x3FFF)  # ours (ITU 14 bits)
    network_indicator: int = Field(default=2, ge=0, le=3)  # M3UA NI: 2 national
    # Our global title (E.164 digits), set as the calling address of what we send; without
    # it the calling address is our point code and SSN.
    global_title: str | None = Field(default=None, pattern=r"^\d{1,15}$")
    # Service keys served (from the subscriber's CSI); empty: any. Others are released
    # with the failure cause.
    service_keys: list[Annotated[int, Field(ge=0, le=2147483647)]] = Field(default_factory=list)
    account_from: Literal["e164", "imsi", "first", "crm"] = "e164"
    country_code: str = Field(default="", pattern=r"^\d{0,3}$")  # for national numbers
    # Seconds asked of the OCS for each period of a call; None: the OCS's default quota.
    period_seconds: int | None = Field(default=None, ge=1, le=86400)
    call_causes: ReleaseCauses = ReleaseCauses(no_credit=31, unknown_subscriber=50, failure=41)
    sms_causes: ReleaseCauses = ReleaseCauses(no_credit=21, unknown_subscriber=30, failure=41)
    max_dialogues: int = Field(default=100_000, ge=1)  # beyond: P-Abort resource limitation
    # A dialogue silent this long is aborted and its charge ended with what was reported;
    # keep it above the longest period (the switch reports at the end of each).
    idle_seconds: float = Field(default=7200.0, gt=0)

    @model_validator(mode="after")
    def _links_when_enabled(self) -> CamelConfig:
        if self.enabled and not self.links:
            raise ValueError("camel.enabled needs at least one entry in links")
        if self.period_seconds is not None and self.idle_seconds <= self.period_seconds:
            raise ValueError("idle_seconds must exceed period_seconds")
        return self


# The largest amount omnigw takes in one report, grant, top-up or balance: the largest
# integer a float64 holds exactly (CGRateS keeps balances as float64), far inside the
# store's signed 64-bit columns, so bounded reports on a bounded balance cannot overflow.
MAX_AMOUNT = 2**53 - 1
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]


class Quota(Section):
    """A quota per unit type: seconds of time, octets of volume, service-specific units."""

    seconds: int = Field(default=600, ge=1, le=MAX_AMOUNT)
    octets: int = Field(default=10 * 1024 * 1024, ge=1, le=MAX_AMOUNT)
    units: int = Field(default=1, ge=1, le=MAX_AMOUNT)


class RatingRule(Section):
    """What CGRateS rates the charges of one service by: its rating profile's Category and the
    Destination its plan's prefixes are matched against. The first rule whose
    `service_context` and `rating_group` both match (absent: any) applies."""

    service_context: str | None = None  # Gy Service-Context-Id, e.g. "32260@3gpp.org"
    rating_group: int | None = Field(default=None, ge=0)
    category: str | None = Field(default=None, min_length=1)  # None: the unit's default
    # A fixed Destination, or None: the called party or SMS recipient the request carries,
    # else the unit's default.
    destination: str | None = Field(default=None, min_length=1)


class CgratesConfig(Section):
    """CGRateS SessionS over JSON-RPC: raw TCP (:2012, pipelined) or HTTP (:2080/jsonrpc)."""

    transport: Literal["tcp", "http"] = "tcp"
    host: str = "127.0.0.1"
    port: Port = 2012
    url: str = "http://127.0.0.1:2080/jsonrpc"
    # Connections to CGRateS; by default 2 for tcp (each carries many requests at once) and
    # 16 for http (HTTP/1.1 carries one request at a time per connection).
    connections: int | None = Field(default=None, ge=1, le=64)
    timeout_seconds: float = Field(default=2.0, gt=0)
    tenant: str = "cgrates.org"
    origin_host: str = "omnigw"  # CGRateS keys sessions by OriginID + OriginHost: keep it fixed
    request_type: str = "*prepaid"
    # After TerminateSession, send the ended session to CGRateS CDRs (SessionSv1.ProcessCDR),
    # as CGRateS's own agents do with *cdrs: it is the account's usage history.
    cdrs: bool = True
    # Category and Destination per service; without a matching rule, Category is "call",
    # "data" or "sms" by unit (seconds, octets, units) and Destination the called party
    # the request names, else "voice", "data" or "sms" (the constants of CGRateS's own
    # Gy samples, which a tariff's *any destination rate matches).
    rating: list[RatingRule] = Field(default_factory=list)


class FailurePolicy(Section):
    """What a CCR gets while the OCS cannot be reached, and when to stop trying it."""

    # reject: answer `result_code` at once; grant: give `fallback_quota`, keep the usage and
    # report it once the OCS is back.
    action: Literal["reject", "grant"] = "reject"
    result_code: Literal[3004, 5012] = 5012  # 3004 TOO_BUSY makes a client fail over
    fallback_quota: Quota = Quota(seconds=60, octets=1024 * 1024, units=1)
    breaker_failures: int = Field(default=5, ge=1)  # consecutive failures that open it
    breaker_reset_seconds: float = Field(default=10.0, gt=0)  # then one trial call


class Topup(Section):
    """What an embedded-backend action adds to an account (CGRateS keeps its own Actions)."""

    seconds: Amount = 0
    octets: Amount = 0
    units: Amount = 0
    reset: bool = False  # like *topup_reset: replace the balance instead of adding to it


class OcsConfig(Section):
    """Charging backend; `embedded` needs nothing, `cgrates` needs its JSON-RPC endpoint."""

    backend: Literal["embedded", "cgrates"] = "embedded"
    default_quota: Quota = Quota()  # granted when a client asks without saying how much
    # Embedded backend only: ActionsId -> top-up, run by provisioning (`Action_<product_slug>`).
    actions: dict[str, Topup] = Field(default_factory=dict)
    cgrates: CgratesConfig = CgratesConfig()
    on_failure: FailurePolicy = FailurePolicy()


StepName = Literal[
    "create_service", "allocate_inventory", "create_account", "execute_action",
    "require_service", "suspend_account", "resume_account", "release_inventory",
    "remove_account", "end_service",
]  # fmt: skip


class WebhookStep(Section):
    """POST the job's variables to `webhook`; `undo_webhook` is called on rollback."""

    webhook: str = Field(pattern=r"^https?://")
    undo_webhook: str | None = Field(default=None, pattern=r"^https?://")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    ignore_errors: bool = False  # a failure is recorded (status 3) and the play goes on


class AnsibleStep(Section):
    """Run a real playbook (the optional `ansible` extra) with the job's variables."""

    ansible: Path
    timeout_seconds: float = Field(default=300.0, gt=0)
    ignore_errors: bool = False


PlayStep = StepName | WebhookStep | AnsibleStep


class SubscriberKey(Section):
    """Where an identifier lives: the inventory template and which of its two text fields."""

    template: str
    field: Literal["itemtext1", "itemtext2"]


class CrmConfig(Section):
    """CRM core and provisioning: plays (added to the built-in ones) and subscriber lookup."""

    plays: dict[str, list[PlayStep]] = Field(default_factory=dict)
    imsi: SubscriberKey = SubscriberKey(template="SIM Card", field="itemtext2")
    msisdn: SubscriberKey = SubscriberKey(template="Mobile Number", field="itemtext1")
    # Full reload of the subscriber index, for changes made by other omnigw instances.
    index_refresh_seconds: float = Field(default=60.0, gt=0)
    job_timeout_seconds: float = Field(default=300.0, gt=0)


def _default_state_dir() -> Path:
    # systemd's StateDirectory= exports STATE_DIRECTORY; elsewhere use ./var.
    return Path(os.environ.get("STATE_DIRECTORY", "var"))


class Config(Section):
    state_dir: Path = Field(default_factory=_default_state_dir)
    api: ApiConfig = ApiConfig()
    metrics: MetricsConfig = MetricsConfig()
    store: StoreConfig = StoreConfig()
    log: LogConfig = LogConfig()
    cbc: CbcConfig = CbcConfig()
    diameter: DiameterConfig = DiameterConfig()
    camel: CamelConfig = CamelConfig()
    ocs: OcsConfig = OcsConfig()
    crm: CrmConfig = CrmConfig()

    def store_url(self) -> str:
        """The database URL with the configured password substituted."""
        url = self.store.url or f"sqlite+aiosqlite:///{self.state_dir / 'omnigw.db'}"
        if self.store.password is not None:
            url = url.replace("{password}", self.store.password.get_secret_value())
        return url


def _describe(exc: ValidationError) -> str:
    """One line per bad key, in the file's own terms: the key's path (without pydantic's
    internal validator names) and the reason (without its "Value error, " prefix)."""
    lines: list[str] = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if "[" not in str(p)) or "(top level)"
        reason = str(err["ctx"]["error"]) if err["type"] == "value_error" else err["msg"]
        line = f"{path}: {reason}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate YAML text; raise ConfigError naming each bad key."""
    try:
        # libyaml's loader when PyYAML has it: a 200,000-cell inventory took 70 s in Python.
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}:\n{_describe(exc)}") from None


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    return parse_config(text, str(path))
