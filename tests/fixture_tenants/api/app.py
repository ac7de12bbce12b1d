# A small JSON API that uses the request: GET /api/hello?name=... greets,
# POST /api/echo echoes the body back with what the handler saw.


def json_string(s):
    out = '"'
    for c in s:
        if c == '"' or c == '\\':
            out += '\\' + c
        elif ord(c) < 32:
            out += ' '
        else:
            out += c
    return out + '"'


def on_client_request(method, path, headers, body):
    if path == "/api/echo":
        if method != "POST":
            return 405, "application/json", '{"error": "POST only"}\n'
        return 200, "application/json", ('{"method": ' + json_string(method)
                                         + ', "length": ' + str(len(body))
                                         + ', "content_type": ' + json_string(headers.get("content-type", ""))
                                         + ', "body": ' + json_string(body) + '}\n')
    if path == "/api/headers":
        names = sorted(headers.keys())
        return 200, "application/json", '{"headers": [' + ", ".join([json_string(n) for n in names]) + ']}\n'
    if path.startswith("/api/"):
        return 404, "application/json", '{"error": "no such endpoint: ' + path[5:] + '"}\n'
    return 200, "application/json", '{"service": "api", "endpoints": ["/api/echo", "/api/headers"]}\n'
