import { formatLogLine, formatLogValue, formatRequestLogLine, parseLogLine, parseRequestLogLine } from "../../workloads/shared/log.ts";
import { MIRROR_MARKER_HEADER, isMirroredRequest, isShadowHost, stripPort } from "../../workloads/shared/mirror.ts";
import { pathOf } from "../../workloads/shared/http-service.ts";
import { readPort, readServiceEnv } from "../../workloads/shared/env.ts";

describe("request log line", () => {
  it("has a stable key=value format", () => {
    const line = formatRequestLogLine({
      time: new Date("2026-11-23T13:00:00.000Z"),
      method: "GET",
      path: "/version/",
      host: "hostname.example.com",
      version: "v1",
      mirrored: false,
      status: 200,
    });
    expect(line).toBe("2026-11-23T13:00:00.000Z method=GET path=/version/ host=hostname.example.com version=v1 mirrored=false status=200");
  });

  it("quotes values that would break the format (logfmt style)", () => {
    expect(formatLogValue("plain.example.com:80")).toBe("plain.example.com:80");
    expect(formatLogValue("")).toBe('""');
    expect(formatLogValue("a b")).toBe('"a b"');
    expect(formatLogValue("/?a=b")).toBe('"/?a=b"');
    expect(formatLogValue('x"\n')).toBe('"x\\"\\n"');
  });

  it("reads back what it writes (format → parse)", () => {
    const entry = {
      time: new Date("2026-11-23T13:00:00.000Z"),
      method: "GET",
      path: '/a b?x="1"',
      host: "",
      version: "v2",
      mirrored: true,
      status: 404,
    };
    expect(parseRequestLogLine(formatRequestLogLine(entry))).toEqual({ ...entry, time: "2026-11-23T13:00:00.000Z" });
    const lifecycle = formatLogLine(new Date("2026-11-23T13:00:00.000Z"), { event: "listening", url: "http://127.0.0.1:8080" });
    expect(parseLogLine(lifecycle)).toEqual({ time: "2026-11-23T13:00:00.000Z", fields: { event: "listening", url: "http://127.0.0.1:8080" } });
    expect(parseRequestLogLine(lifecycle)).toBeUndefined();
    expect(parseLogLine("not a log line")).toBeUndefined();
  });
});

describe("mirror detection", () => {
  it("strips ports, IPv6 included", () => {
    expect(stripPort("a.example.com:80")).toBe("a.example.com");
    expect(stripPort("a.example.com")).toBe("a.example.com");
    expect(stripPort("[::1]:8080")).toBe("[::1]");
    expect(stripPort("[::1]")).toBe("[::1]");
  });

  it.each([
    ["hostname.example.com-shadow", true],
    ["hostname.example.com-shadow:80", true],
    ["hostname.example.com:80-shadow", true],
    ["HOSTNAME.example.com-SHADOW", true],
    ["hostname.example.com", false],
    ["shadow.example.com", false],
    ["a-shadow.example.com", false],
    ["", false],
  ])("Host %j is a shadow host: %s", (host, expected) => {
    expect(isShadowHost(host)).toBe(expected);
  });

  it("recognises the marker header", () => {
    expect(MIRROR_MARKER_HEADER).toBe("x-mirror-shadow");
    expect(isMirroredRequest("a.example.com", "true")).toBe(true);
    expect(isMirroredRequest("a.example.com", " TRUE ")).toBe(true);
    expect(isMirroredRequest("a.example.com", "true, true")).toBe(true);
    expect(isMirroredRequest("a.example.com", ["true"])).toBe(true);
    expect(isMirroredRequest("a.example.com", "false")).toBe(false);
    expect(isMirroredRequest("a.example.com", "")).toBe(false);
    expect(isMirroredRequest("a.example.com", undefined)).toBe(false);
  });
});

describe("pathOf", () => {
  it("drops the query and never parses a host out of the path", () => {
    expect(pathOf("/version/?x=1")).toBe("/version/");
    expect(pathOf("//evil.example.com/x")).toBe("//evil.example.com/x");
    expect(pathOf("?x")).toBe("/");
    expect(pathOf(undefined)).toBe("/");
  });
});

describe("service env", () => {
  it("reads PORT with a default and rejects bad values", () => {
    expect(readPort({}, 8080)).toBe(8080);
    expect(readPort({ PORT: "" }, 8080)).toBe(8080);
    expect(readPort({ PORT: "0" }, 8080)).toBe(0);
    expect(readPort({ PORT: " 9090 " }, 8080)).toBe(9090);
    for (const bad of ["abc", "-1", "65536", "80.5", "0x50"]) {
      expect(() => readPort({ PORT: bad }, 8080)).toThrow(`PORT must be an integer from 0 to 65535 (0 = any free port), got "${bad}"`);
    }
  });

  it("takes version and pod name from VERSION and HOSTNAME, binding all interfaces by default", () => {
    expect(readServiceEnv({ VERSION: "v2", HOSTNAME: "movies-v2-abc" }, 3000)).toEqual({
      port: 3000,
      host: "0.0.0.0",
      version: "v2",
      podName: "movies-v2-abc",
    });
    expect(readServiceEnv({ BIND_ADDRESS: "127.0.0.1" }, 3000)).toMatchObject({ host: "127.0.0.1", version: "unknown" });
  });
});
