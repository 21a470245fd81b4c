"""awx-api-double: the part of AWX's REST API (/api/v2/) that the awx.awx collection's modules and its
controller_api lookup call when playbooks/awx.yml applies awx/objects.yml. It is a double, named so in its
name and in every answer's X-API-Double header, never counted as AWX.

What it mirrors (awx.awx 24.6.1, plugins/module_utils/controller_api.py, and AWX's API):
- list views with Django-filter lookups as awx.awx builds them: `name`, `or__id`/`or__name` (get_one's name
  or id search), `<field>`, `<field>__iexact|__contains|__icontains|__startswith|__endswith`; an unknown
  field is a 400, as AWX's FieldLookupBackend refuses it; answers {count, next, previous, results};
- POST create (201), GET, PATCH (200), DELETE (204) on /api/v2/<kind>/<id>/; association sub-lists
  (credentials, labels, success_nodes, ...) with POST {id} and {id, disassociate: true} (204);
  /job_templates/<id>/survey_spec/ GET/POST/DELETE; /unified_job_templates/ as the union AWX serves;
- what AWX refuses with a 400: a second object of the same name where AWX keeps names unique (per
  organization, per inventory, per credential type), a reference to an object that does not exist, a
  job template whose playbook is not a playbook of its project's checkout or with neither inventory nor
  ask_inventory_on_launch, an inventory source whose source_path is not a file of its project, a custom
  credential type of another kind than cloud or net or whose injectors name an undefined input, a
  credential whose inputs miss a required field or name an unknown one, a schedule whose rrule has no
  DTSTART or not one RRULE, a survey spec without name, description or spec;
- secret inputs answered as "$encrypted$", as AWX does, so that a module re-applying a secret sees it;
- the product headers X-API-Product-Name: AWX and X-API-Product-Version, which awx.awx compares with its own.

A project's checkout is a directory given to the double (the repository itself): what AWX's project update
would have fetched. No job ever runs: a project update is reported successful at once.
"""
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

VERSION = "24.6.1"
ENCRYPTED = "$encrypted$"

# kind -> (type, fields a list view filters on besides id/name/description/type, uniqueness scope)
KINDS = {
    "organizations": ("organization", (), ()),
    "execution_environments": ("execution_environment", ("organization", "image"), ()),
    "credential_types": ("credential_type", ("kind", "managed"), ()),
    "credentials": ("credential", ("credential_type", "organization", "kind"), ("organization", "credential_type")),
    "projects": ("project", ("organization", "scm_type", "scm_url"), ("organization",)),
    "inventories": ("inventory", ("organization", "kind"), ("organization",)),
    "inventory_sources": ("inventory_source", ("inventory", "source", "source_project"), ("inventory",)),
    "job_templates": ("job_template", ("organization", "project", "inventory", "playbook"), ("organization",)),
    "workflow_job_templates": ("workflow_job_template", ("organization", "inventory"), ("organization",)),
    "workflow_job_template_nodes": ("workflow_job_template_node", ("workflow_job_template", "identifier",
                                                                 "unified_job_template"), None),
    "schedules": ("schedule", ("unified_job_template", "enabled"), ("unified_job_template",)),
    "labels": ("label", ("organization",), ("organization",)),
    "instance_groups": ("instance_group", (), ()),
    "notification_templates": ("notification_template", ("organization",), ("organization",)),
    "users": ("user", ("username",), None),
    "teams": ("team", ("organization",), ("organization",)),
}
# Which kind each reference field points to.
REFERENCES = {"organization": "organizations", "credential_type": "credential_types", "project": "projects",
              "inventory": "inventories", "source_project": "projects", "credential": "credentials",
              "execution_environment": "execution_environments", "default_environment": "execution_environments",
              "workflow_job_template": "workflow_job_templates", "webhook_credential": "credentials",
              "scm_credential": "credentials", "signature_validation_credential": "credentials"}
UNIFIED = ("job_templates", "workflow_job_templates", "projects", "inventory_sources")
ASSOCIATIONS = {"credentials": "credentials", "labels": "labels", "instance_groups": "instance_groups",
                "success_nodes": "workflow_job_template_nodes", "failure_nodes": "workflow_job_template_nodes",
                "always_nodes": "workflow_job_template_nodes", "galaxy_credentials": "credentials",
                "input_inventories": "inventories"}
NOTIFICATION_LISTS = ("notification_templates_started", "notification_templates_success",
                      "notification_templates_error", "notification_templates_approvals")
LOOKUPS = ("iexact", "contains", "icontains", "startswith", "endswith", "exact", "in", "isnull")


class Refused(Exception):
    def __init__(self, status, body):
        super().__init__(body)
        self.status = status
        self.body = body


class AwxWorld:
    """AWX's objects, by kind and id; what the double serves and a test reads."""

    def __init__(self, project_root):
        self.project_root = os.path.abspath(project_root)
        self.objects = {kind: {} for kind in KINDS}
        self.associations = {}  # (kind, id, name) -> [ids]
        self.surveys = {}  # job template id -> spec
        self.next_id = 1
        self.lock = threading.Lock()
        self.requests = []

    # --- seeding (what an AWX installation and its operator already have) ---
    def seed(self, collection, /, **fields):
        with self.lock:
            return self._create(collection, fields, validate=False)

    def named(self, kind, name):
        return [o for o in self.objects[kind].values() if o.get("name") == name]

    # --- objects ---
    def _url(self, kind, oid):
        return f"/api/v2/{kind}/{oid}/"

    def _create(self, kind, fields, validate=True):
        fields = dict(fields)
        fields.pop("id", None)
        obj_type = KINDS[kind][0]
        fields["type"] = obj_type
        if validate:
            self._validate(kind, fields, None)
        oid = self.next_id
        self.next_id += 1
        obj = {"id": oid, "url": self._url(kind, oid), "description": "", **fields}
        self._decorate(kind, obj)
        self.objects[kind][oid] = obj
        return obj

    def _decorate(self, kind, obj):
        related = {name: f"{obj['url']}{name}/" for name in ASSOCIATIONS}
        related.update({name: f"{obj['url']}{name}/" for name in NOTIFICATION_LISTS})
        if kind == "job_templates" or kind == "workflow_job_templates":
            related["survey_spec"] = f"{obj['url']}survey_spec/"
        if kind == "projects":
            related["update"] = f"{obj['url']}update/"
            obj.setdefault("scm_revision", "0" * 40)
        if kind == "workflow_job_template_nodes" and obj.get("unified_job_template"):
            ujt = self._find_unified(obj["unified_job_template"])
            related["unified_job_template"] = ujt["url"] if ujt else None
        obj["related"] = related
        obj["summary_fields"] = {}

    def _find_unified(self, oid):
        for kind in UNIFIED:
            if oid in self.objects[kind]:
                return self.objects[kind][oid]
        return None

    def _refuse(self, field, message):
        raise Refused(400, {field: [message]})

    def _validate(self, kind, fields, existing):
        merged = {**(existing or {}), **fields}
        for field, target in REFERENCES.items():
            value = fields.get(field)
            if value in (None, ""):
                continue
            if not isinstance(value, int) or value not in self.objects[target]:
                self._refuse(field, f'Invalid pk "{value}" - object does not exist.')
        scope = KINDS[kind][2]
        name_field = "username" if kind == "users" else "name"
        if scope is not None and merged.get(name_field) is not None:
            for other in self.objects[kind].values():
                if existing is not None and other["id"] == existing["id"]:
                    continue
                if other.get(name_field) == merged[name_field] and all(other.get(s) == merged.get(s) for s in scope):
                    words = " and ".join(["Name", *[s.replace("_", " ").title() for s in scope]])
                    raise Refused(400, {"__all__": [f"{KINDS[kind][0].replace('_', ' ').title()} with this {words}"
                                                    " already exists."]})
        getattr(self, f"_validate_{kind}", lambda m: None)(merged)

    def _validate_credential_types(self, m):
        if m.get("kind") not in ("cloud", "net"):
            self._refuse("kind", f"Must be 'cloud' or 'net', not {m.get('kind')}")
        fields = {f["id"] for f in (m.get("inputs") or {}).get("fields", [])}
        files = {k.split(".", 1)[1] for k in (m.get("injectors") or {}).get("file", {}) if k.startswith("template.")}
        for section in ("env", "extra_vars", "file"):
            for value in ((m.get("injectors") or {}).get(section) or {}).values():
                for ref in re.findall(r"\{\{\s*([\w.]+)\s*\}\}", str(value)):
                    if ref in fields or (ref.startswith("tower.filename.") and ref.split(".")[2] in files):
                        continue
                    if ref == "tower.filename" and "template" in (m.get("injectors") or {}).get("file", {}):
                        continue
                    self._refuse("injectors", f"{section}: '{ref}' is undefined")

    def _validate_credentials(self, m):
        ctype = self.objects["credential_types"].get(m.get("credential_type"))
        if ctype is None:
            self._refuse("credential_type", "This field is required.")
        fields = {f["id"]: f for f in ctype.get("inputs", {}).get("fields", [])}
        inputs = m.get("inputs") or {}
        for key in inputs:
            if key not in fields:
                self._refuse("inputs", f"Additional properties are not allowed ('{key}' was unexpected)")
        for key in ctype.get("inputs", {}).get("required", []):
            if inputs.get(key) in (None, ""):
                raise Refused(400, {"inputs": {key: [f"required for {ctype['name']}"]}})

    def _project_files(self, project_id):
        project = self.objects["projects"].get(project_id)
        return self.project_root if project else None

    def _validate_job_templates(self, m):
        if not m.get("project"):
            self._refuse("project", "This field is required.")
        if not m.get("inventory") and not m.get("ask_inventory_on_launch"):
            self._refuse("inventory", "Job Template must provide 'inventory' or allow prompting for it.")
        path = os.path.join(self.project_root, m.get("playbook") or "")
        if not m.get("playbook") or not _is_playbook(path):
            self._refuse("playbook", "Playbook not found for project.")

    def _validate_inventory_sources(self, m):
        if m.get("source") == "scm":
            if not m.get("source_project"):
                self._refuse("source_project", "Project required for scm type sources.")
            path = os.path.join(self.project_root, m.get("source_path") or "")
            if not m.get("source_path") or not os.path.isfile(path):
                self._refuse("source_path", f"File {m.get('source_path')} not found in project.")

    def _validate_schedules(self, m):
        rrule = m.get("rrule") or ""
        if "DTSTART" not in rrule:
            self._refuse("rrule", "A DTSTART is required.")
        if len(re.findall(r"RRULE:", rrule)) != 1:
            self._refuse("rrule", "Multiple RRULE is not supported." if "RRULE:" in rrule else "RRULE required in rrule.")
        if not re.search(r"FREQ=(MINUTELY|HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY)", rrule):
            self._refuse("rrule", "rrule parsing failed validation: FREQ required.")
        if self._find_unified(m.get("unified_job_template")) is None:
            self._refuse("unified_job_template", "This field is required.")

    def _validate_workflow_job_template_nodes(self, m):
        if m.get("workflow_job_template") not in self.objects["workflow_job_templates"]:
            self._refuse("workflow_job_template", "This field is required.")
        if m.get("unified_job_template") is not None and self._find_unified(m["unified_job_template"]) is None:
            self._refuse("unified_job_template", "Invalid pk - object does not exist.")

    def masked(self, kind, obj):
        out = json.loads(json.dumps(obj))
        if kind == "credentials":
            ctype = self.objects["credential_types"].get(obj.get("credential_type"), {})
            secret = {f["id"] for f in ctype.get("inputs", {}).get("fields", []) if f.get("secret")}
            out["inputs"] = {k: (ENCRYPTED if k in secret and v not in ("", None) else v)
                             for k, v in (obj.get("inputs") or {}).items()}
        return out

    def delete(self, kind, oid):
        self.objects[kind].pop(oid)
        # What AWX deletes with its owner: schedules, a workflow's nodes, an inventory's sources.
        for sid, s in list(self.objects["schedules"].items()):
            if s.get("unified_job_template") == oid and kind in UNIFIED:
                self.objects["schedules"].pop(sid)
        if kind == "workflow_job_templates":
            for nid, n in list(self.objects["workflow_job_template_nodes"].items()):
                if n.get("workflow_job_template") == oid:
                    self.objects["workflow_job_template_nodes"].pop(nid)
        if kind == "inventories":
            for sid, s in list(self.objects["inventory_sources"].items()):
                if s.get("inventory") == oid:
                    self.objects["inventory_sources"].pop(sid)
        for key in [k for k in self.associations if k[0] == kind and k[1] == oid]:
            self.associations.pop(key)
        for key, ids in self.associations.items():
            if ASSOCIATIONS.get(key[2]) == kind and oid in ids:
                ids.remove(oid)

    # --- queries ---
    def query(self, kind, params):
        rows = list(self.objects[kind].values()) if kind != "unified_job_templates" else \
            [o for k in UNIFIED for o in self.objects[k].values()]
        known = {"id", "name", "description", "type", "identifier", *KINDS.get(kind, (None, ("organization",
                                                                                          "unified_job_template")))[1]}
        if kind == "unified_job_templates":
            known |= {"organization"}
        ors, ands = [], []
        for key, value in params:
            if key in ("page", "page_size", "order_by"):
                continue
            target = ors if key.startswith("or__") else ands
            field, _, lookup = key.removeprefix("or__").partition("__")
            if field not in known or (lookup and lookup not in LOOKUPS):
                raise Refused(400, {"detail": f"{key} is not an allowed field name. Must be ascii encodable."})
            target.append((field, lookup or "exact", value))
        rows = [r for r in rows if all(_match(r, *c) for c in ands) and (not ors or any(_match(r, *c) for c in ors))]
        return sorted(rows, key=lambda r: r["id"])


def _match(row, field, lookup, value):
    have = row.get(field)
    if lookup == "isnull":
        return (have is None) == (value.lower() in ("true", "1"))
    have = "" if have is None else (str(have) if not isinstance(have, bool) else str(have))
    if lookup == "exact":
        return have == value or (isinstance(row.get(field), bool) and have.lower() == value.lower())
    if lookup == "iexact":
        return have.lower() == value.lower()
    if lookup == "in":
        return have in value.split(",")
    return {"contains": value in have, "icontains": value.lower() in have.lower(),
            "startswith": have.startswith(value), "endswith": have.endswith(value)}[lookup]


def _is_playbook(path):
    """AWX lists as a project's playbooks the YAML files that hold a list of plays."""
    if not os.path.isfile(path) or not path.endswith((".yml", ".yaml")):
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return bool(re.search(r"^-\s+(name|hosts|import_playbook|ansible\.builtin\.import_playbook):", text, re.M))


class AwxApiDouble:
    """`with AwxApiDouble(project_root, token) as awx:` serves AwxWorld on a free loopback port (awx.url)."""

    def __init__(self, project_root, token):
        self.world = AwxWorld(project_root)
        self.token = token
        self.server = None
        self.thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        world, token = self.world, self.token

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-API-Product-Name", "AWX")
                self.send_header("X-API-Product-Version", VERSION)
                self.send_header("X-API-Double", "awx-api-double")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                url = urlparse(self.path)
                world.requests.append((method, url.path, url.query))
                if self.headers.get("Authorization") != f"Bearer {token}":
                    return self._answer(401, {"detail": "Authentication credentials were not provided."})
                body = None
                if method in ("POST", "PATCH", "PUT"):
                    length = int(self.headers.get("Content-Length") or 0)
                    try:
                        body = json.loads(self.rfile.read(length) or b"{}")
                    except ValueError:
                        return self._answer(400, {"detail": "JSON parse error"})
                parts = [p for p in url.path.split("/") if p]
                if parts[:2] != ["api", "v2"]:
                    return self._answer(404, {"detail": "Not found."})
                try:
                    with world.lock:
                        status, answer = route(world, method, parts[2:], parse_qsl(url.query), body)
                except Refused as r:
                    status, answer = r.status, r.body
                return self._answer(status, answer)

            def do_GET(self):  # noqa: N802 - BaseHTTPRequestHandler's names
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_PATCH(self):  # noqa: N802
                self._handle("PATCH")

            def do_DELETE(self):  # noqa: N802
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _page(world, kind, rows):
    return 200, {"count": len(rows), "next": None, "previous": None,
                 "results": [world.masked(kind if kind in KINDS else r["type"] + "s", r) for r in rows]}


def route(world, method, parts, params, body):
    """(status, body) of one request under /api/v2/."""
    if parts == ["ping"]:
        return 200, {"version": VERSION, "active_node": "awx-api-double"}
    if not parts:
        return 404, {"detail": "Not found."}
    kind = parts[0]
    if kind == "unified_job_templates" and len(parts) == 1 and method == "GET":
        return 200, {**_page(world, kind, world.query(kind, params))[1]}
    if kind == "project_updates" and len(parts) == 2 and method == "GET":
        return 200, {"id": int(parts[1]), "status": "successful", "failed": False, "finished": "2026-01-01T00:00:00Z"}
    if kind not in KINDS:
        return 404, {"detail": "Not found."}
    if len(parts) == 1:
        if method == "GET":
            return _page(world, kind, world.query(kind, params))
        if method == "POST":
            obj = world._create(kind, body)
            return 201, world.masked(kind, obj)
        return 405, {"detail": f'Method "{method}" not allowed.'}
    try:
        oid = int(parts[1])
    except ValueError:
        return 404, {"detail": "Not found."}
    obj = world.objects[kind].get(oid)
    if obj is None:
        return 404, {"detail": "Not found."}
    if len(parts) == 2:
        if method == "GET":
            return 200, world.masked(kind, obj)
        if method == "PATCH":
            fields = {k: v for k, v in body.items() if k not in ("id", "url", "related", "summary_fields")}
            if kind == "credentials" and "inputs" in fields:
                # A secret sent back as "$encrypted$" keeps its stored value, as AWX does.
                fields["inputs"] = {k: (obj.get("inputs", {}).get(k) if v == ENCRYPTED else v)
                                    for k, v in fields["inputs"].items()}
            world._validate(kind, fields, obj)
            obj.update(fields)
            world._decorate(kind, obj)
            return 200, world.masked(kind, obj)
        if method == "DELETE":
            world.delete(kind, oid)
            return 204, None
        return 405, {"detail": f'Method "{method}" not allowed.'}
    sub = parts[2]
    if sub == "survey_spec" and kind in ("job_templates", "workflow_job_templates"):
        if method == "GET":
            return 200, world.surveys.get((kind, oid), {})
        if method == "DELETE":
            world.surveys.pop((kind, oid), None)
            return 204, None
        for key in ("name", "description", "spec"):
            if key not in body:
                return 400, {"error": f"'{key}' missing from survey spec."}
        for q in body["spec"]:
            for key in ("question_name", "variable", "type", "required"):
                if key not in q:
                    return 400, {"error": f"'{key}' missing from survey question {body['spec'].index(q)}."}
        world.surveys[(kind, oid)] = body
        return 200, None
    if sub == "update" and kind == "projects" and method == "POST":
        return 202, {"id": oid, "url": f"/api/v2/project_updates/{oid}/", "status": "successful"}
    target = ASSOCIATIONS.get(sub) or ("notification_templates" if sub in NOTIFICATION_LISTS else None)
    if target is None:
        return 404, {"detail": "Not found."}
    ids = world.associations.setdefault((kind, oid, sub), [])
    if method == "GET":
        return _page(world, target, [world.objects[target][i] for i in ids if i in world.objects[target]])
    if method == "POST":
        other = body.get("id")
        if other not in world.objects[target]:
            return 400, {"msg": f"Related object {other} does not exist."}
        if body.get("disassociate"):
            if other in ids:
                ids.remove(other)
        elif other not in ids:
            ids.append(other)
        return 204, None
    return 405, {"detail": f'Method "{method}" not allowed.'}
