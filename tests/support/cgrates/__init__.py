"""A strict stand-in for CGRateS (SessionSv1, APIer, ConfigSv1 over JSON-RPC, TCP and HTTP).

CGRateS itself cannot be installed here (no Debian package; its Go build needs a
module proxy we cannot reach), so this stand-in follows CGRateS's source where a
client's mistake would show: each behaviour cites the Go file and line it follows
(master at 19463bd). It is stricter than CGRateS where that catches shape mistakes
(an unknown field, a missing flag or event field is an error).

Reproduced: sessions keyed by sha1(OriginID + OriginHost), registered before they are
debited (a refusal leaves them live), debited in advance in whole rate increments and
corrected by LastUsed; default_usage for an event without Usage; MaxUsage 0 and no
error for an empty balance; a duplicate InitiateSession answers EXISTS; UpdateSession
of an unknown session opens one, TerminateSession of one charges it once; closed
sessions cached 10 s for ProcessCDR (read, not popped), after which ProcessCDR rates
and debits the event's own Usage; ChargerS runs giving a CDR each; tariffs by
Category and Subject with Destination prefix matching; the *rpc_responses cache off
unless configured; accounts with AllowNegative and Disabled kept apart; actions
creating missing accounts; sessions lost on a crash, accounts kept.
"""

from tests.support.cgrates.server import Cgrates
from tests.support.cgrates.state import NANOS, ExtraBalance, State, Tariff

__all__ = ["NANOS", "Cgrates", "ExtraBalance", "State", "Tariff"]
