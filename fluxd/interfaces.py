# -*- test-case-name: tests.unit.message.test_router -*-
"""Cross-service contracts of the broker (zope.interface).

Each interface is small and names every method its users call; services
receive their collaborators typed by these interfaces through their
constructors (see :mod:`fluxd.broker`) and check them there with
:func:`provide`.  ``tests/contracts`` holds each real service and its fake
to the same behaviour.
"""

from zope.interface import Attribute, Interface
from zope.interface.verify import verifyObject


def provide(interface, obj):
    """Check that ``obj`` provides ``interface`` and return it.

    zope's ``verifyObject``: the class declares the interface, and every
    method and attribute is there with a compatible signature.  Services
    call it on each collaborator at construction, so that a miswired
    broker fails when it is built, not on first use.

    :raises zope.interface.exceptions.Invalid: when it does not.
    """
    verifyObject(interface, obj)
    return obj


class IModule(Interface):
    """A broker service addressed by topic prefix (a Flux "module")."""

    name = Attribute("The service name: the topic prefix before the first '.'")

    def flux_methods():
        """Return ``{method: (callable, MethodSpec)}`` for this service."""

    def disconnect(sender):
        """Forget what ``sender`` (a client identity) left pending."""


class IRouter(Interface):
    """Routes Flux messages to services by topic and nodeid."""

    rank = Attribute("This broker's rank")

    def add_module(module):
        """Register an :class:`IModule`'s methods under its name."""

    def remove_module(name):
        """Unregister a service by name."""

    instance_cred = Attribute(
        "The Credential of calls made on the instance's own behalf")

    def attach_upstream(upstream):
        """Send requests this broker cannot serve to an :class:`IUpstream`."""

    def deliver(message, reply):
        """Deliver a request; ``reply(response)`` is called per response."""

    def call(topic, payload=None, *, cred, nodeid=None):
        """An in-process RPC with the caller's credential: a Deferred
        firing with the JSON reply."""

    def stream(topic, payload=None, *, cred, on_response, nodeid=None,
               on_error=None):
        """An in-process streaming RPC: a Stream (``done``, ``cancel()``);
        ``on_error(failure)``, when given, hears of an error end instead
        of ``done``."""

    def check_event_topic(topic, cred):
        """Raise PermissionDenied when ``cred`` may not publish ``topic``."""

    def disconnect(sender):
        """A client went away: cancel its streams, tell every module."""

    def cancel(sender, matchtag):
        """End ``sender``'s streaming request ``matchtag`` with ECANCELED."""

    def modules():
        """The registered modules, in registration order."""


class IUpstream(Interface):
    """Where a router sends what it cannot serve: the overlay's link to
    the parent and children."""

    def forward(message, reply):
        """Route a request to another broker; ``reply(response)`` per answer."""

    def forward_cancel(sender, matchtag):
        """Pass a client's cancel of a remote stream on."""

    def forward_disconnect(sender):
        """Tell other brokers that a client went away."""


class IEvents(Interface):
    """The broker's events (RFC 3 events, sequenced on rank 0)."""

    seq = Attribute("The sequence number of the last event seen here")

    def publish(topic, payload=None, *, cred, private=False):
        """Publish an event stamped with ``cred``: on rank 0 the sequence
        number, elsewhere a Deferred firing with it."""

    def subscribe(prefix, callback, roles=None):
        """Call ``callback(message)`` for each event whose topic starts with
        ``prefix`` and whose publisher has one of ``roles`` (default: the
        owner only); returns a subscription with ``cancel()``."""

    def subscriptions():
        """The live subscriptions (each has ``prefix`` and ``roles``)."""

    def deliver(message):
        """Hand a sequenced event to subscribers and forwarders."""

    def add_forwarder(forward):
        """Also hand every sequenced event to ``forward(message)``."""


class IOverlayStatus(Interface):
    """What the overlay tells other services about the instance's brokers."""

    def online_ranks():
        """The IDset of ranks online (rank 0's view)."""

    def torpid_ranks():
        """The IDset of ranks torpid (rank 0's view)."""

    def parent_ready():
        """A Deferred firing once the TBON parent accepted this broker."""

    def on_membership(callback):
        """Call ``callback()`` when the online or torpid sets change."""


class IOverlayLifecycle(Interface):
    """The overlay's part in the broker states (spec/broker.md 2)."""

    def parent_ready():
        """A Deferred firing once the TBON parent accepted this broker."""

    def quorum_reached():
        """A Deferred firing once ``broker.quorum`` brokers are online."""

    def children_gone():
        """A Deferred firing True once the children left (False: none)."""

    def shutdown_children():
        """Tell the children to shut down."""

    def add_parent_lost(callback):
        """Call ``callback()`` when the parent shuts down or disconnects us."""


class ILifecycle(Interface):
    """The broker states, as the admin services use them."""

    state = Attribute("The current state's name")
    duration = Attribute("Seconds spent in the current state")
    stopping = Attribute("True once a stop was requested")

    def when_state(name):
        """A Deferred firing when state ``name`` is entered."""

    def add_listener(listener):
        """Tell ``listener(lifecycle, state, event)`` about each change."""

    def add_gate(state, gate):
        """Make ``state``'s wait also wait for ``gate()`` (a Deferred)."""

    def request_shutdown():
        """``flux shutdown``: leave RUN for CLEANUP."""

    def kill(signum):
        """A terminating signal: end the current state's work."""


class IBuiltins(Interface):
    """The broker's modules, as the lifecycle starts and stops them."""

    def load():
        """Start every module in order; a Deferred."""

    def unload():
        """Stop every module in reverse order; a Deferred."""


class IAttributes(Interface):
    """The broker attribute table (``flux getattr``/``setattr``/``lsattr``)."""

    def get(name):
        """Return the value (a string) or raise NotFound."""

    def set(name, value):
        """Set a runtime-writable attribute; raise PermissionDenied if not."""

    def names():
        """All attribute names, sorted."""


class IContentStore(Interface):
    """Rank 0's backing store (RFC 10): blobs by blobref, plus the KVS
    namespace roots, written together so that a root never names a blob
    that is not stored."""

    hash_name = Attribute("The hash algorithm of the blobrefs: sha1 or sha256")

    def open():
        """Prepare the store; a Deferred firing with None when ready."""

    def load(blobref):
        """A Deferred firing with the blob's bytes (NotFound if absent)."""

    def write(blobs, roots):
        """Store ``{blobref: bytes}`` and set or delete (None) namespace
        roots ``{namespace: record}`` in one transaction; the Deferred
        fires once both are durable."""

    def roots():
        """A Deferred firing with ``{namespace: record}`` as stored."""

    def flush():
        """A Deferred firing once every write issued before is durable."""

    def close():
        """Finish pending writes and release the store (a Deferred)."""


class IKVS(Interface):
    """The key-value store of one broker (RFC 11): reads served locally,
    commits applied by rank 0."""

    def lookup(namespace, key, flags=0, rootref=None):
        """A Deferred firing with the tree object found at ``key``."""

    def commit(namespace, ops, flags=0):
        """Apply a transaction; a Deferred firing with ``{rootref, rootseq}``
        once the new root is durable and visible on this broker."""

    def commit_batch(steps):
        """Apply ordered ``create``/``commit``/``copy``/``remove`` steps
        over several namespaces in one durable write (rank 0); a Deferred
        firing with ``primary``'s ``{rootref, rootseq}``."""

    def getroot(namespace):
        """A Deferred firing with ``{rootref, rootseq, owner, flags}``."""

    def namespaces():
        """``[{namespace, owner, flags}]`` known to this broker (rank 0:
        every namespace)."""

    def wait_version(namespace, rootseq):
        """A Deferred firing once the local root reaches ``rootseq``."""

    def add_root_listener(callback):
        """Call ``callback(namespace, rootref, rootseq, keys)`` after each
        local root change (``rootref`` None: the namespace was removed);
        returns a callable that removes the listener."""

    def namespace(name, cred):
        """A Deferred firing with the namespace record (``name``,
        ``rootref``, ``seq``) after checking that ``cred`` may read it."""

    def lookup_at(namespace, key, flags, rootref, cred):
        """A Deferred firing with ``(treeobj, rootref)`` for ``key``."""

    def read_value(obj):
        """A Deferred firing with the bytes of a val or valref object."""

    content = Attribute("The content service (``load(ref)``, ``hash(data)``)")


class IReconfigurable(Interface):
    """A service that follows configuration changes (``flux config reload``,
    SIGHUP): told about each new config in module-list order."""

    def reconfigure(config):
        """Adopt ``config`` (a :class:`fluxd.config.Config`).

        May return a Deferred.  Raise a :class:`fluxd.errors.FluxError`
        to refuse it: the broker then keeps the old config everywhere.
        """


class IJobTable(Interface):
    """The job manager's jobs, as job-list and job-info read them.

    Records are :class:`fluxd.job.jobs.Job` objects, owned by the job
    manager: readers must not change them.
    """

    def get(jobid):
        """The Job with that id, or None (unknown or purged)."""

    def jobs():
        """Every job the instance still knows (active and inactive), in
        no particular order."""

    def add_observer(callback):
        """Call ``callback(job, entry)`` after each event of any job is
        durable (``entry`` is the eventlog dict); returns a remover."""

    def durable():
        """A Deferred firing once every event applied to the records so
        far is durable (records run ahead of the disk: what is read from
        the KVS about a job seen inactive must wait for this)."""


class IJobSubmit(Interface):
    """The job manager as job-ingest hands it new jobs."""

    max_jobid = Attribute("The highest job id ever issued in this instance")

    def check_submit():
        """Raise a FluxError when submission is disabled."""

    def check_job(prepared):
        """Raise a FluxError when one new job's queue refuses it (unknown,
        missing, or disabled); may give the job its default queue."""

    def submit(prepared):
        """Store new jobs (dicts from ingest); a Deferred firing once their
        J, jobspec and ``submit`` event are durable, with ``{id: message}``
        of those a jobtap plugin rejected (or None)."""


class IFinalizeStep(Interface):
    """A module with work of its own in rc3 (the FINALIZE state), while
    clients such as ``flux shutdown`` still follow the broker log: rank
    0's content backing dumps the KVS there (``flux shutdown --gc``)."""

    def finalize():
        """Do the rc3 work; return an exit code (0: go on) or a Deferred
        firing with one.  A failure that must not stop the broker is
        logged and reported as 0."""
