"""The official Kubernetes Python client (Debian's python3-kubernetes) against atrest apiserver.

Run by test/clients-python.test.ts, which starts a TLS apiserver with RBAC and passes two kubeconfigs:
ATREST_KUBECONFIG (an admin in system:masters) and ATREST_KUBECONFIG_NOBODY (a user bound to nothing).
Each TestCase class is one resource (or one concern); every test uses its own namespace or names.
"""

import base64
import json
import os
import unittest
import uuid

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def core(kubeconfig):
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


ADMIN = core(os.environ["ATREST_KUBECONFIG"])
NOBODY = core(os.environ["ATREST_KUBECONFIG_NOBODY"])


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def status_of(err):
    """The Status body of an ApiException, as kube-apiserver sends it."""
    body = json.loads(err.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    return body


def meta(name, labels=None, namespace=None):
    return client.V1ObjectMeta(name=name, labels=labels, namespace=namespace)


class NamespacedResource:
    """What every namespaced resource does; subclasses say how to make and read one."""

    resource = ""  # the plural, as in kube's messages
    kind = ""
    delete_returns_object = False

    # --- per resource ---
    def make(self, name, labels=None, value="one"):
        raise NotImplementedError

    def value_of(self, obj):
        raise NotImplementedError

    def op(self, verb):
        singular = {"secrets": "secret", "configmaps": "config_map", "serviceaccounts": "service_account"}[
            self.resource
        ]
        return getattr(ADMIN, f"{verb}_namespaced_{singular}")

    # --- shared ---
    @classmethod
    def setUpClass(cls):
        cls.ns = unique(f"py-{cls.resource}")
        ADMIN.create_namespace(client.V1Namespace(metadata=meta(cls.ns)))

    @classmethod
    def tearDownClass(cls):
        ADMIN.delete_namespace(cls.ns)

    def test_create_read_replace_patch_delete(self):
        name = unique("obj")
        created = self.op("create")(self.ns, self.make(name, {"app": "py"}))
        self.assertEqual(created.kind if created.kind else self.kind, self.kind)
        self.assertEqual(created.metadata.name, name)
        self.assertEqual(created.metadata.namespace, self.ns)
        self.assertTrue(created.metadata.uid)
        self.assertTrue(created.metadata.resource_version.isdigit())
        self.assertIsNotNone(created.metadata.creation_timestamp.tzinfo)

        got = self.op("read")(name, self.ns)
        self.assertEqual(got.metadata.uid, created.metadata.uid)
        self.assertEqual(self.value_of(got), "one")

        # replace with the read object's resourceVersion; again with the now stale one: 409 Conflict.
        stale = self.op("read")(name, self.ns)
        replaced = self.op("replace")(name, self.ns, self.with_value(got, "two"))
        self.assertNotEqual(replaced.metadata.resource_version, got.metadata.resource_version)
        self.assertEqual(self.value_of(self.op("read")(name, self.ns)), "two")
        with self.assertRaises(ApiException) as cm:
            self.op("replace")(name, self.ns, self.with_value(stale, "three"))
        self.assertEqual(cm.exception.status, 409)
        st = status_of(cm.exception)
        self.assertEqual(st["reason"], "Conflict")
        self.assertEqual(
            st["message"],
            f'Operation cannot be fulfilled on {self.resource} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
        )
        self.assertEqual(self.value_of(self.op("read")(name, self.ns)), "two")

        # patch: a dict goes as a strategic merge patch, a list as a JSON patch (the client's choice).
        self.op("patch")(name, self.ns, {"metadata": {"labels": {"patched": "strategic"}}})
        self.op("patch")(
            name, self.ns, [{"op": "add", "path": "/metadata/annotations", "value": {"by": "json-patch"}}]
        )
        got = self.op("read")(name, self.ns)
        self.assertEqual(got.metadata.labels, {"app": "py", "patched": "strategic"})
        self.assertEqual(got.metadata.annotations, {"by": "json-patch"})

        # delete with DeleteOptions in the body and a query parameter: kube's Status, then 404.
        st = self.op("delete")(
            name,
            self.ns,
            body=client.V1DeleteOptions(propagation_policy="Background"),
            grace_period_seconds=0,
        )
        if self.delete_returns_object:  # kube's ReturnDeletedObject (service accounts)
            self.assertEqual((st.metadata.name, st.metadata.uid), (name, created.metadata.uid))
        else:
            self.assertEqual(st.status, "Success")
            self.assertEqual(st.details.name, name)
            self.assertEqual(st.details.kind, self.resource)
            self.assertEqual(st.details.uid, created.metadata.uid)
        with self.assertRaises(ApiException) as cm:
            self.op("read")(name, self.ns)
        self.assertEqual(cm.exception.status, 404)
        st = status_of(cm.exception)
        self.assertEqual(st["reason"], "NotFound")
        self.assertEqual(st["message"], f'{self.resource} "{name}" not found')
        self.assertEqual(st["details"], {"name": name, "kind": self.resource})

    def test_list_paging_selectors_and_delete_collection(self):
        run = unique("run")
        names = sorted(f"{run}-{i}" for i in range(7))
        for i, n in enumerate(names):
            self.op("create")(self.ns, self.make(n, {"run": run, "tier": "a" if i % 2 == 0 else "b"}))
        selector = f"run={run}"

        # pages of 3 until the continue token runs out
        seen, token, pages = [], None, 0
        while True:
            kwargs = {"label_selector": selector, "limit": 3}
            if token:
                kwargs["_continue"] = token
            page = self.op("list")(self.ns, **kwargs)
            pages += 1
            self.assertLessEqual(len(page.items), 3)
            seen += [o.metadata.name for o in page.items]
            token = page.metadata._continue
            if not token:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, names)

        by = lambda sel: sorted(o.metadata.name for o in self.op("list")(self.ns, label_selector=sel).items)
        self.assertEqual(by(f"{selector},tier=a"), names[0::2])
        self.assertEqual(by(f"{selector},tier!=a"), names[1::2])
        self.assertEqual(by(f"{selector},tier in (a,b)"), names)
        self.assertEqual(by(f"{selector},tier notin (a)"), names[1::2])
        self.assertEqual(by(f"{selector},!tier"), [])
        self.assertEqual(by(f"{selector},tier"), names)
        one = self.op("list")(self.ns, field_selector=f"metadata.name={names[3]}")
        self.assertEqual([o.metadata.name for o in one.items], [names[3]])
        listed = self.op("list")(self.ns, label_selector=selector)
        self.assertTrue(listed.metadata.resource_version.isdigit())

        with self.assertRaises(ApiException) as cm:
            self.op("list")(self.ns, label_selector="tier in (a")
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(status_of(cm.exception)["reason"], "BadRequest")
        with self.assertRaises(ApiException) as cm:
            self.op("list")(self.ns, field_selector="spec.nothing=x")
        self.assertEqual(cm.exception.status, 400)

        # delete collection with a selector takes exactly what it selects
        # (kube answers with the list of what it deleted; the client reads it through its V1Status model)
        self.op("delete_collection")(self.ns, label_selector=f"{selector},tier=b")
        self.assertEqual(by(selector), names[0::2])
        self.op("delete_collection")(self.ns, label_selector=selector)
        self.assertEqual(by(selector), [])

    def test_watch(self):
        name = unique("watched")
        start = self.op("list")(self.ns, limit=1).metadata.resource_version
        self.op("create")(self.ns, self.make(name, {"w": "1"}))
        got = self.op("read")(name, self.ns)
        self.op("replace")(name, self.ns, self.with_value(got, "changed"))
        self.op("delete")(name, self.ns)

        # from the resourceVersion before the writes: every change after it, typed as the model
        w = watch.Watch()
        events = []
        for e in w.stream(
            self.op("list"),
            self.ns,
            resource_version=start,
            field_selector=f"metadata.name={name}",
            allow_watch_bookmarks=True,
            timeout_seconds=10,
        ):
            if e["type"] == "BOOKMARK":
                continue
            events.append((e["type"], e["object"].metadata.name, self.value_of(e["object"])))
            if e["type"] == "DELETED":
                w.stop()
        self.assertEqual(
            events, [("ADDED", name, "one"), ("MODIFIED", name, "changed"), ("DELETED", name, "changed")]
        )

        # without a resourceVersion: the current state first, as ADDED events
        kept = unique("kept")
        self.op("create")(self.ns, self.make(kept, {"w": "2"}))
        w = watch.Watch()
        for e in w.stream(self.op("list"), self.ns, label_selector="w=2", timeout_seconds=10):
            self.assertEqual((e["type"], e["object"].metadata.name), ("ADDED", kept))
            w.stop()

    def with_value(self, obj, value):
        raise NotImplementedError


class SecretsTest(NamespacedResource, unittest.TestCase):
    resource, kind = "secrets", "Secret"

    def make(self, name, labels=None, value="one"):
        return client.V1Secret(metadata=meta(name, labels), string_data={"password": value}, type="Opaque")

    def value_of(self, obj):
        return base64.b64decode(obj.data["password"]).decode()

    def with_value(self, obj, value):
        obj.data = {"password": base64.b64encode(value.encode()).decode()}
        return obj

    def test_data_and_string_data(self):
        name = unique("mixed")
        created = ADMIN.create_namespaced_secret(
            self.ns,
            client.V1Secret(
                metadata=meta(name),
                data={"a": base64.b64encode(b"\x00\xffbinary").decode()},
                string_data={"b": "text"},
            ),
        )
        self.assertEqual(created.type, "Opaque")  # defaulted
        self.assertIsNone(created.string_data)  # folded into data
        self.assertEqual(base64.b64decode(created.data["a"]), b"\x00\xffbinary")
        self.assertEqual(base64.b64decode(created.data["b"]), b"text")


class ConfigMapsTest(NamespacedResource, unittest.TestCase):
    resource, kind = "configmaps", "ConfigMap"

    def make(self, name, labels=None, value="one"):
        return client.V1ConfigMap(metadata=meta(name, labels), data={"mode": value})

    def value_of(self, obj):
        return obj.data["mode"]

    def with_value(self, obj, value):
        obj.data = {"mode": value}
        return obj


class ServiceAccountsTest(NamespacedResource, unittest.TestCase):
    resource, kind = "serviceaccounts", "ServiceAccount"
    delete_returns_object = True

    def make(self, name, labels=None, value="one"):
        return client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=name, labels=labels, annotations={"value": value})
        )

    def value_of(self, obj):
        return (obj.metadata.annotations or {}).get("value")

    def with_value(self, obj, value):
        obj.metadata.annotations = {**(obj.metadata.annotations or {}), "value": value}
        return obj


class NamespacesTest(unittest.TestCase):
    def test_create_read_replace_patch_list_watch_delete(self):
        run = unique("run")
        names = sorted(f"{run}-{i}" for i in range(4))
        start = ADMIN.list_namespace(limit=1).metadata.resource_version
        for n in names:
            ADMIN.create_namespace(client.V1Namespace(metadata=meta(n, {"run": run})))
        got = ADMIN.read_namespace(names[0])
        self.assertEqual(got.status.phase, "Active")
        got.metadata.labels["replaced"] = "yes"
        ADMIN.replace_namespace(names[0], got)
        ADMIN.patch_namespace(names[1], {"metadata": {"labels": {"patched": "yes"}}})
        self.assertEqual(ADMIN.read_namespace(names[0]).metadata.labels["replaced"], "yes")
        self.assertEqual(ADMIN.read_namespace(names[1]).metadata.labels["patched"], "yes")

        first = ADMIN.list_namespace(label_selector=f"run={run}", limit=2)
        self.assertEqual([n.metadata.name for n in first.items], names[:2])
        rest = ADMIN.list_namespace(label_selector=f"run={run}", limit=2, _continue=first.metadata._continue)
        self.assertEqual([n.metadata.name for n in rest.items], names[2:])
        self.assertFalse(rest.metadata._continue)
        self.assertEqual(
            [n.metadata.name for n in ADMIN.list_namespace(label_selector=f"run={run},patched").items],
            [names[1]],
        )

        # a namespace with contents: deleting it takes them
        ADMIN.create_namespaced_config_map(names[2], client.V1ConfigMap(metadata=meta("inside")))
        for n in names:
            ADMIN.delete_namespace(n)
        for n in names:
            with self.assertRaises(ApiException) as cm:
                ADMIN.read_namespace(n)
            self.assertEqual(cm.exception.status, 404)
            self.assertEqual(status_of(cm.exception)["message"], f'namespaces "{n}" not found')
        with self.assertRaises(ApiException) as cm:
            ADMIN.read_namespaced_config_map("inside", names[2])
        self.assertEqual(cm.exception.status, 404)

        w = watch.Watch()
        seen = []
        for e in w.stream(ADMIN.list_namespace, label_selector=f"run={run}", resource_version=start, timeout_seconds=10):
            seen.append((e["type"], e["object"].metadata.name))
            if len([s for s in seen if s[0] == "DELETED"]) == len(names):
                w.stop()
        self.assertEqual([s for s in seen if s[0] == "ADDED"], [("ADDED", n) for n in names])
        self.assertEqual(sorted(s for s in seen if s[0] == "DELETED"), [("DELETED", n) for n in names])

    def test_create_into_a_missing_namespace(self):
        missing = unique("missing")
        with self.assertRaises(ApiException) as cm:
            ADMIN.create_namespaced_secret(missing, client.V1Secret(metadata=meta("s"), string_data={"k": "v"}))
        self.assertEqual(cm.exception.status, 404)
        self.assertEqual(status_of(cm.exception)["message"], f'namespaces "{missing}" not found')


class TypedErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = unique("py-errors")
        ADMIN.create_namespace(client.V1Namespace(metadata=meta(cls.ns)))

    @classmethod
    def tearDownClass(cls):
        ADMIN.delete_namespace(cls.ns)

    def test_already_exists(self):
        ADMIN.create_namespaced_config_map(self.ns, client.V1ConfigMap(metadata=meta("twice")))
        with self.assertRaises(ApiException) as cm:
            ADMIN.create_namespaced_config_map(self.ns, client.V1ConfigMap(metadata=meta("twice")))
        self.assertEqual(cm.exception.status, 409)
        st = status_of(cm.exception)
        self.assertEqual((st["reason"], st["message"]), ("AlreadyExists", 'configmaps "twice" already exists'))

    def test_invalid(self):
        with self.assertRaises(ApiException) as cm:
            ADMIN.create_namespaced_secret(self.ns, client.V1Secret(metadata=meta("Bad_Name")))
        self.assertEqual(cm.exception.status, 422)
        st = status_of(cm.exception)
        self.assertEqual(st["reason"], "Invalid")
        self.assertTrue(st["message"].startswith('Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'), st["message"])
        self.assertEqual(st["details"]["causes"][0]["field"], "metadata.name")
        self.assertEqual(st["details"]["causes"][0]["reason"], "FieldValueInvalid")
        with self.assertRaises(ApiException) as cm:
            ADMIN.read_namespaced_secret("Bad_Name", self.ns)
        self.assertEqual(cm.exception.status, 404)

    def test_forbidden_and_unauthorized(self):
        with self.assertRaises(ApiException) as cm:
            NOBODY.list_namespaced_secret(self.ns)
        self.assertEqual(cm.exception.status, 403)
        st = status_of(cm.exception)
        self.assertEqual(st["reason"], "Forbidden")
        self.assertEqual(
            st["message"],
            f'secrets is forbidden: User "nobody" cannot list resource "secrets" in API group "" in the namespace "{self.ns}"',
        )
        self.assertEqual(st["details"], {"kind": "secrets"})
        with self.assertRaises(ApiException) as cm:
            NOBODY.create_namespaced_config_map(self.ns, client.V1ConfigMap(metadata=meta("nope")))
        self.assertEqual(cm.exception.status, 403)
        with self.assertRaises(ApiException) as cm:
            ADMIN.read_namespaced_config_map("nope", self.ns)
        self.assertEqual(cm.exception.status, 404)

        bad = client.Configuration()
        bad.host = ADMIN.api_client.configuration.host
        bad.ssl_ca_cert = ADMIN.api_client.configuration.ssl_ca_cert
        bad.api_key = {"authorization": "Bearer not-a-token"}
        with self.assertRaises(ApiException) as cm:
            client.CoreV1Api(client.ApiClient(bad)).list_namespace()
        self.assertEqual(cm.exception.status, 401)
        self.assertEqual(status_of(cm.exception)["reason"], "Unauthorized")

    def test_dry_run(self):
        made = ADMIN.create_namespaced_secret(
            self.ns, client.V1Secret(metadata=meta("dry"), string_data={"k": "v"}), dry_run="All"
        )
        self.assertEqual(made.metadata.name, "dry")
        with self.assertRaises(ApiException) as cm:
            ADMIN.read_namespaced_secret("dry", self.ns)
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(ApiException) as cm:
            ADMIN.create_namespaced_secret(self.ns, client.V1Secret(metadata=meta("dry")), dry_run="Some")
        self.assertEqual(cm.exception.status, 422)
        st = status_of(cm.exception)
        self.assertEqual(st["reason"], "Invalid")
        self.assertIn('supported values: "All"', st["message"])


class ParametersTest(unittest.TestCase):
    """Query parameters sent raw through the client's own transport, as kube-apiserver converts them."""

    @classmethod
    def setUpClass(cls):
        cls.ns = unique("py-params")
        ADMIN.create_namespace(client.V1Namespace(metadata=meta(cls.ns)))
        for i in range(5):
            ADMIN.create_namespaced_config_map(cls.ns, client.V1ConfigMap(metadata=meta(f"cm-{i}")))

    @classmethod
    def tearDownClass(cls):
        ADMIN.delete_namespace(cls.ns)

    def raw(self, query, path=None, method="GET"):
        """GET the namespace's configmaps (or path) with these query parameters: (status, body text)."""
        try:
            resp = ADMIN.api_client.call_api(
                path or f"/api/v1/namespaces/{self.ns}/configmaps",
                method,
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
            )
            return resp[1], resp[0].data.decode()
        except ApiException as e:
            return e.status, e.body

    def test_repeated_empty_and_typed_parameters(self):
        code, body = self.raw([("limit", "2"), ("limit", "4")])  # the first value counts
        self.assertEqual((code, len(json.loads(body)["items"])), (200, 2))
        code, body = self.raw([("limit", "")])
        self.assertEqual(code, 400)
        self.assertEqual(json.loads(body)["message"], 'strconv.ParseInt: parsing "": invalid syntax')
        code, body = self.raw([("limit", "two")])
        self.assertEqual((code, json.loads(body)["message"]), (400, 'strconv.ParseInt: parsing "two": invalid syntax'))
        code, body = self.raw([("pretty", "true")])
        self.assertEqual(code, 200)
        self.assertIn('\n  "kind": "ConfigMapList"', body)
        code, body = self.raw([("pretty", "false")])
        self.assertNotIn("\n", body.strip())
        # a bool is true unless absent, "0" or "false": watch=True (what Python sends) and watch=1 watch
        code, body = self.raw([("watch", "1"), ("timeoutSeconds", "1")])
        self.assertEqual(code, 200)
        self.assertEqual({json.loads(l)["type"] for l in body.splitlines() if l}, {"ADDED"})
        code, body = self.raw([("watch", "false"), ("limit", "1")])
        self.assertEqual(json.loads(body)["kind"], "ConfigMapList")

    def test_watch_paths(self):
        # kube's deprecated /watch/ paths: a collection, or one object by name
        code, body = self.raw([("timeoutSeconds", "1")], f"/api/v1/watch/namespaces/{self.ns}/configmaps")
        self.assertEqual(code, 200)
        events = [json.loads(l) for l in body.splitlines() if l]
        self.assertEqual(sorted(e["object"]["metadata"]["name"] for e in events), [f"cm-{i}" for i in range(5)])
        code, body = self.raw([("timeoutSeconds", "1")], f"/api/v1/watch/namespaces/{self.ns}/configmaps/cm-3")
        self.assertEqual([json.loads(l)["object"]["metadata"]["name"] for l in body.splitlines() if l], ["cm-3"])
        code, body = self.raw([], f"/api/v1/watch/namespaces/{self.ns}/configmaps/cm-3", "DELETE")
        self.assertEqual(code, 405)
        ADMIN.read_namespaced_config_map("cm-3", self.ns)  # still there


if __name__ == "__main__":
    unittest.main()
