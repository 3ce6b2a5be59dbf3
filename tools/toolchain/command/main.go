// Command pulumi-resource-command is a TEST-ONLY stand-in for the resource plugin of
// pulumi-command v1.2.1 (github.com/pulumi/pulumi-command/provider, which the Go module proxy
// refuses: see README.md). It implements the one resource this project uses,
// command:local:Command, with upstream's semantics as the engine sees them:
//
//   - Check applies the schema default addPreviousOutputInEnv=true and rejects ill-typed inputs;
//   - Diff compares the old state's input properties with the new inputs; a change is an update,
//     except a change under `triggers`, which is a replace;
//   - Create runs `create`; Update runs `update`, or `create` again when `update` is unset;
//     Delete runs `delete` if set; a preview runs nothing and leaves stdout/stderr unknown;
//   - commands run through `interpreter` (default /bin/sh -c) in `dir` (default: the plugin's
//     working directory, which the engine sets to the project directory), with the process
//     environment plus `environment`, plus PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR (the
//     previous stdout/stderr) when addPreviousOutputInEnv is not false, and `stdin` on stdin;
//   - stdout/stderr are streamed to the engine as status messages per `logging`, captured, and
//     returned with one trailing newline trimmed; a failing command fails the step with its
//     combined output in the error.
//
// Upstream files followed (pulumi/pulumi-command): provider/pkg/provider/local/command.go,
// commandController.go, commandOutputs.go, base.go, logging.go, common/inputs.go,
// util/util.go; and pulumi/pulumi-go-provider infer/resource.go + provider.go for how the
// infer framework turns those into Check/Diff/Create/Update/Delete/Read answers.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// version is what GetPluginInfo reports: the engine matches it against the version that
// @pulumi/command asks for (the "pulumi" field of its package.json). Overridable with
// -ldflags "-X main.version=...".
var version = "1.2.1"

//go:embed schema.json
var schemaJSON string

const commandType = "command:local:Command"

// The input properties of command:local:Command (upstream: common.ResourceInputs + local.BaseInputs).
var inputKeys = []resource.PropertyKey{
	"triggers", "create", "update", "delete",
	"stdin", "logging", "interpreter", "dir", "environment",
	"assetPaths", "archivePaths", "addPreviousOutputInEnv",
}

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(version)
		return
	}
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &commandProvider{host: host}, nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
	host *provider.HostClient
}

// Properties cross the wire with secrets and unknowns kept, so that a secret input comes back
// as a secret output and a preview can answer "unknown".
var wire = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, wire)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = resource.PropertyMap{}
	}
	return m, nil
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, wire)
}

func checkType(urn string) error {
	if t := string(resource.URN(urn).Type()); t != commandType {
		return fmt.Errorf("unknown resource type '%s': this test-only stand-in for pulumi-resource-command "+
			"implements only %s (see tools/toolchain/command/README.md)", t, commandType)
	}
	return nil
}

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: schemaJSON}, nil
}

// The provider has no configuration (schema: "config": {}).
func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// Resource references in inputs (e.g. in `triggers`) arrive as their IDs/URNs
	// (AcceptResources false), which is also what upstream stores for them.
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, fmt.Errorf("function '%s' is not implemented by this test-only stand-in for pulumi-resource-command "+
		"(only the %s resource is; see tools/toolchain/command/README.md)", req.GetTok(), commandType)
}

// ---------------------------------------------------------------------------------------------
// Check: decode the inputs, apply the schema default (addPreviousOutputInEnv: true).
// ---------------------------------------------------------------------------------------------

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	failures := validate(news)
	if len(failures) == 0 {
		if _, ok := news["addPreviousOutputInEnv"]; !ok {
			news["addPreviousOutputInEnv"] = resource.NewBoolProperty(true)
		}
	}
	inputs, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

func validate(m resource.PropertyMap) []*pulumirpc.CheckFailure {
	var failures []*pulumirpc.CheckFailure
	fail := func(k resource.PropertyKey, reason string) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: string(k), Reason: reason})
	}
	for _, k := range []resource.PropertyKey{"create", "update", "delete", "stdin", "logging", "dir"} {
		if v, ok := m[k]; ok && !isA(v, resource.PropertyValue.IsString) {
			fail(k, fmt.Sprintf("expected a string, got %s", plain(v).TypeString()))
		}
	}
	if v, ok := m["addPreviousOutputInEnv"]; ok && !isA(v, resource.PropertyValue.IsBool) {
		fail("addPreviousOutputInEnv", fmt.Sprintf("expected a boolean, got %s", plain(v).TypeString()))
	}
	if v, ok := m["triggers"]; ok && !isA(v, resource.PropertyValue.IsArray) {
		fail("triggers", fmt.Sprintf("expected an array, got %s", plain(v).TypeString()))
	}
	for _, k := range []resource.PropertyKey{"interpreter", "assetPaths", "archivePaths"} {
		v, ok := m[k]
		if !ok || plain(v).IsComputed() {
			continue
		}
		if !plain(v).IsArray() {
			fail(k, fmt.Sprintf("expected an array of strings, got %s", plain(v).TypeString()))
			continue
		}
		for i, e := range plain(v).ArrayValue() {
			if !isA(e, resource.PropertyValue.IsString) {
				fail(resource.PropertyKey(fmt.Sprintf("%s[%d]", k, i)),
					fmt.Sprintf("expected a string, got %s", plain(e).TypeString()))
			}
		}
	}
	if v, ok := m["environment"]; ok && !plain(v).IsComputed() {
		if !plain(v).IsObject() {
			fail("environment", fmt.Sprintf("expected a map of strings, got %s", plain(v).TypeString()))
		} else {
			for ek, e := range plain(v).ObjectValue() {
				if !isA(e, resource.PropertyValue.IsString) {
					fail(resource.PropertyKey(fmt.Sprintf("environment.%s", ek)),
						fmt.Sprintf("expected a string, got %s", plain(e).TypeString()))
				}
			}
		}
	}
	// Not implemented by the stand-in (nothing in this project uses them): refuse clearly
	// rather than silently returning no assets/archive.
	for _, k := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
		if _, ok := m[k]; ok {
			fail(k, fmt.Sprintf("%s is not supported by the test-only stand-in for pulumi-resource-command "+
				"(tools/toolchain/command/README.md); the real plugin supports it", k))
		}
	}
	return failures
}

// plain strips secret wrappers (a secret's element is what the command sees).
func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// isA: the value (unwrapped) has the wanted type, or is unknown/null (allowed in a preview).
func isA(v resource.PropertyValue, want func(resource.PropertyValue) bool) bool {
	v = plain(v)
	return v.IsComputed() || v.IsNull() || want(v)
}

// ---------------------------------------------------------------------------------------------
// Diff: the old state restricted to the input properties vs the new inputs. With an Update
// method (upstream has one), a change is an update unless the property is replaceOnChanges
// (only `triggers`).
// ---------------------------------------------------------------------------------------------

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range req.GetIgnoreChanges() {
		if v, ok := olds[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		} else {
			delete(news, resource.PropertyKey(k))
		}
	}
	oldInputs := resource.PropertyMap{}
	for _, k := range inputKeys {
		if v, ok := olds[k]; ok {
			oldInputs[k] = v
		}
	}
	objDiff := oldInputs.Diff(news)
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		HasDetailedDiff: true,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
	}
	if objDiff.AnyChanges() {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	detailed := plugin.NewDetailedDiffFromObjectDiff(objDiff, false)
	paths := make([]string, 0, len(detailed))
	for path := range detailed {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		d := detailed[path]
		if path == "triggers" || strings.HasPrefix(path, "triggers[") || strings.HasPrefix(path, "triggers.") {
			d.Kind = d.Kind.AsReplace()
		}
		var kind pulumirpc.PropertyDiff_Kind
		switch d.Kind {
		case plugin.DiffAdd:
			kind = pulumirpc.PropertyDiff_ADD
		case plugin.DiffAddReplace:
			kind = pulumirpc.PropertyDiff_ADD_REPLACE
		case plugin.DiffDelete:
			kind = pulumirpc.PropertyDiff_DELETE
		case plugin.DiffDeleteReplace:
			kind = pulumirpc.PropertyDiff_DELETE_REPLACE
		case plugin.DiffUpdate:
			kind = pulumirpc.PropertyDiff_UPDATE
		case plugin.DiffUpdateReplace:
			kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
		default:
			continue
		}
		resp.DetailedDiff[path] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: d.InputDiff}
		resp.Diffs = append(resp.Diffs, path)
		if d.Kind.IsReplace() {
			resp.Replaces = append(resp.Replaces, path)
		}
	}
	return resp, nil
}

// ---------------------------------------------------------------------------------------------
// Create / Update / Delete / Read
// ---------------------------------------------------------------------------------------------

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(urn.Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	// The state mirrors the inputs (secrets and all), plus stdout and stderr.
	state := inputs.Copy()
	if req.GetPreview() {
		// Run nothing: outputs that are not inputs are unknown until the command has run.
		state["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		state["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	} else {
		out := outputs{}
		if cmd, ok := str(inputs, "create"); ok {
			if err := p.run(ctx, urn, cmd, inputs, &out); err != nil {
				return nil, err
			}
		}
		out.set(state)
	}
	props, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range req.GetIgnoreChanges() {
		if v, ok := olds[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		} else {
			delete(news, resource.PropertyKey(k))
		}
	}
	// Upstream: state = {inputs: news, outputs: the old stdout/stderr}.
	out := outputs{stdout: plainString(olds["stdout"]), stderr: plainString(olds["stderr"])}
	state := news.Copy()
	if req.GetPreview() {
		out.set(state)
		// infer's preview rule for outputs that depend on every input: unknown if an input is
		// unknown or differs from its old value.
		if changedOrUnknown(olds, news) {
			state["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
			state["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		}
	} else {
		// `update` if set, else `create` again; neither: nothing runs, the old outputs stay.
		cmd, ok := str(news, "update")
		if !ok {
			cmd, ok = str(news, "create")
		}
		if ok {
			if err := p.run(ctx, urn, cmd, news, &out); err != nil {
				return nil, err
			}
		}
		out.set(state)
	}
	props, err := marshal(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func changedOrUnknown(olds, news resource.PropertyMap) bool {
	for _, k := range inputKeys {
		n, hasNew := news[k]
		if hasNew && n.ContainsUnknowns() {
			return true
		}
		if o, hasOld := olds[k]; hasOld && !o.DeepEquals(n) {
			return true
		}
	}
	return false
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if cmd, ok := str(state, "delete"); ok {
		out := outputs{stdout: plainString(state["stdout"]), stderr: plainString(state["stderr"])}
		if err := p.run(ctx, resource.URN(req.GetUrn()), cmd, state, &out); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// Read (refresh, import): upstream has no custom Read, so infer answers with the state and
// inputs as they are.
func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// ---------------------------------------------------------------------------------------------
// Running a command (upstream: local/commandOutputs.go run()).
// ---------------------------------------------------------------------------------------------

type outputs struct{ stdout, stderr string }

func (o outputs) set(state resource.PropertyMap) {
	state["stdout"] = resource.NewStringProperty(o.stdout)
	state["stderr"] = resource.NewStringProperty(o.stderr)
}

// str returns a set string input (secret or not) and whether it is set.
func str(m resource.PropertyMap, k resource.PropertyKey) (string, bool) {
	v, ok := m[k]
	if !ok {
		return "", false
	}
	v = plain(v)
	if !v.IsString() {
		return "", false
	}
	return v.StringValue(), true
}

func plainString(v resource.PropertyValue) string {
	v = plain(v)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func (p *commandProvider) run(ctx context.Context, urn resource.URN, command string,
	in resource.PropertyMap, out *outputs,
) error {
	var args []string
	if v, ok := in["interpreter"]; ok && plain(v).IsArray() && len(plain(v).ArrayValue()) > 0 {
		for _, e := range plain(v).ArrayValue() {
			args = append(args, plainString(e))
		}
	} else {
		args = []string{"/bin/sh", "-c"}
	}
	args = append(args, command)

	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if dir, ok := str(in, "dir"); ok {
		cmd.Dir = dir
	} else {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		cmd.Dir = wd
	}
	cmd.Env = os.Environ()
	if v, ok := in["environment"]; ok && plain(v).IsObject() {
		env := plain(v).ObjectValue()
		for _, k := range env.StableKeys() {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s", k, plainString(env[k])))
		}
	}
	addPrevious := true
	if v, ok := in["addPreviousOutputInEnv"]; ok && plain(v).IsBool() {
		addPrevious = plain(v).BoolValue()
	}
	if addPrevious {
		if out.stdout != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDOUT="+out.stdout)
		}
		if out.stderr != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDERR="+out.stderr)
		}
	}
	if stdin, ok := str(in, "stdin"); ok && stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}

	logging, hasLogging := str(in, "logging")
	logStdout := !hasLogging || logging == "stdout" || logging == "stdoutAndStderr"
	logStderr := !hasLogging || logging == "stderr" || logging == "stdoutAndStderr"

	var stdoutBuf, stderrBuf bytes.Buffer
	combined := &lockedBuffer{} // only for the error message
	logR, logW := io.Pipe()
	stdoutWriters := []io.Writer{&stdoutBuf, combined}
	if logStdout {
		stdoutWriters = append(stdoutWriters, logW)
	}
	stderrWriters := []io.Writer{&stderrBuf, combined}
	if logStderr {
		stderrWriters = append(stderrWriters, logW)
	}
	cmd.Stdout = io.MultiWriter(stdoutWriters...)
	cmd.Stderr = io.MultiWriter(stderrWriters...)

	logDone := make(chan struct{})
	go p.logLines(ctx, urn, logR, logDone)

	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	_ = logW.Close()
	<-logDone

	if err != nil {
		return fmt.Errorf("%w: running %q:\n%s", err, command, combined.String())
	}
	out.stdout = strings.TrimSuffix(stdoutBuf.String(), "\n")
	out.stderr = strings.TrimSuffix(stderrBuf.String(), "\n")
	return nil
}

// logLines sends each line of output to the engine as an ephemeral Info status message for
// the resource (upstream: util.LogOutput with diag.Info -> InfoStatus).
func (p *commandProvider) logLines(ctx context.Context, urn resource.URN, r io.Reader, done chan<- struct{}) {
	defer close(done)
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		if p.host != nil {
			_ = p.host.LogStatus(ctx, diag.Info, urn, scanner.Text())
		}
	}
	// A line longer than the scanner's buffer stops the scanner: keep draining so the command
	// never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
