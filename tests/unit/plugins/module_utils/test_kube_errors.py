from __future__ import annotations

from ansible_collections.aml.kserve.plugins.module_utils._kube_errors import kube_error_message

FORBIDDEN = (
    'configmaps \\"aml-image-builder-config\\" is forbidden: User \\"system:serviceaccount:ns:nobody\\" cannot get '
    'resource \\"configmaps\\" in API group \\"\\" in the namespace \\"ns\\"'
)
BODY = '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"' + FORBIDDEN + '","reason":"Forbidden","code":403}'
HEADERS = "HTTP response headers: HTTPHeaderDict({'Audit-Id': 'abc', 'Content-Type': 'application/json'})\n"
EXPECTED = ('configmaps "aml-image-builder-config" is forbidden: User "system:serviceaccount:ns:nobody" cannot get '
            'resource "configmaps" in API group "" in the namespace "ns"')


def test_message_from_a_text_body():
    text = "The lookup plugin 'kubernetes.core.k8s' failed: 403\nReason: Forbidden\n" + HEADERS + "HTTP response body: " + BODY + "\n"
    assert kube_error_message(text) == EXPECTED


def test_message_from_a_bytes_body():
    text = "failed: (403)\nReason: Forbidden\n" + HEADERS + "HTTP response body: " + repr(BODY.encode()) + "\n"
    assert kube_error_message(text) == EXPECTED


def test_first_line_without_a_body():
    assert kube_error_message("\n  connection refused\nmore") == "connection refused"
    assert kube_error_message("HTTP response body: {not json}") == "HTTP response body: {not json}"
    assert kube_error_message(None) == ""


def test_message_from_kubernetes_core_with_a_traceback_after_it():
    # kubernetes.core.k8s_info's msg on a 403: headers before the body, a traceback with braces after it
    text = ("Exception '403\nReason: Forbidden\n" + HEADERS + "HTTP response body: " + BODY + "\n\nOriginal traceback: \n"
            "    self.client.response_deserialize(api_response, {})\n' raised while trying to get resource")
    assert kube_error_message(text) == EXPECTED
