"""Test-only HTTP function: echoes the FC 3.0 HTTP event back, and answers as the request asks."""
import base64
import json


def handler(event, context):
    req = json.loads(event)
    query = req.get("queryParameters") or {}
    if query.get("binary") == "1":
        return {"statusCode": 201, "headers": {"Content-Type": "application/octet-stream", "X-Test": "bin"},
                "body": base64.b64encode(b"\x00\x01\xfe\xff").decode(), "isBase64Encoded": True}
    if query.get("plain") == "1":
        return "just text"
    return {"statusCode": int(query.get("status", "200")), "headers": {"Content-Type": "application/json",
            "X-Echo-Path": req["rawPath"]}, "body": json.dumps(req), "isBase64Encoded": False}
