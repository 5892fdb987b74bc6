// Process-wide settings of ONNX Runtime that must be in place before the runtime initializes, so
// this module is imported before onnxruntime-node (see model.ts).
//
// Telemetry: official ONNX Runtime builds for Linux and macOS (onnxruntime-node 1.30 included)
// upload usage events to mobile.events.data.microsoft.com once a session exists. ONNX Runtime's
// docs/Privacy.md, "Disabling Telemetry": "Set `ORT_DISABLE_TELEMETRY=1` before ONNX Runtime
// initializes. This prevents the uploader, events, and persistent device identifier from being
// created for the process lifetime." The Node binding exposes no call for the C API's
// `OrtApi::DisableTelemetryEvents` (which, per the same page, only suppresses non-essential events
// after an initialization event may already have gone out), so the environment variable is the
// switch. It is read from the process environment, which Node's process.env writes through to.
// Diffill promises no telemetry: the value is forced, not defaulted.
process.env['ORT_DISABLE_TELEMETRY'] = '1';

export {};
