// Command pulumi-language-nodejs (this wrapper) is the Node.js language host that the
// toolchain puts on PATH. It runs upstream's host, github.com/pulumi/pulumi/sdk/v3@v3.68.0
// nodejs/cmd/pulumi-language-nodejs (the newest the Go module proxy serves: see
// tools/toolchain/README.md), as a child process and forwards every RPC that host
// implements to it, unchanged: GetRequiredPlugins, Run, GetPluginInfo, InstallDependencies,
// About, GetProgramDependencies. It adds the one RPC that the v3.274 engine needs and
// v3.68.0 lacks for this project: RunPlugin, through which the engine starts a Node.js
// policy pack (`pulumi preview --policy-pack DIR`). RunPlugin runs
// `node <@pulumi/pulumi>/cmd/run-plugin <nodeargs> <dir> <args>` from the policy pack's
// directory, as upstream's current host does, and streams its output back to the engine.
// Every other RPC answers Unimplemented, as in v3.68.0, and the engine falls back.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// upstreamEnv names the upstream host binary; by default it is
// ../libexec/pulumi-language-nodejs-upstream next to this executable's directory.
const upstreamEnv = "BACKEND_INFRA_UPSTREAM_LANGUAGE_HOST"

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	up pulumirpc.LanguageRuntimeClient
}

func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return h.up.GetRequiredPlugins(ctx, req)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	return h.up.Run(ctx, req)
}

func (h *host) GetPluginInfo(ctx context.Context, req *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return h.up.GetPluginInfo(ctx, req)
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	return h.up.About(ctx, req)
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return h.up.GetProgramDependencies(ctx, req)
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	stream, err := h.up.InstallDependencies(server.Context(), req)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := server.Send(msg); err != nil {
			return err
		}
	}
}

// RunPlugin runs a Node.js plugin program (a policy pack) with the SDK's cmd/run-plugin.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest,
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("RunPlugin: node not found on PATH: %w", err)
	}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetProgram()
	}
	opts := req.GetInfo().GetOptions().AsMap()
	env := req.GetEnv()
	if ts, ok := opts["typescript"].(bool); !ok || ts {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if tsconfig, ok := opts["tsconfig"].(string); ok && tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}

	runPath, err := resolveModule(nodeBin, "@pulumi/pulumi/cmd/run-plugin", dir, env)
	if err != nil {
		return err
	}
	args := []string{runPath}
	if nodeargs, ok := opts["nodeargs"].(string); ok {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, dir)
	args = append(args, req.GetArgs()...)

	cmd := exec.Command(nodeBin, args...)
	// From the plugin's own directory: @pulumi/policy reads the pack's package.json from the
	// working directory, and the engine's Pwd is the project's (its main, e.g. dist/).
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = struct{ io.Writer }{stdout}, struct{ io.Writer }{stderr}
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("Program exited with non-zero exit code: %d", exitErr.ExitCode())
		}
		return fmt.Errorf("Problem executing plugin program (could not run language executor): %w", err)
	}
	return closer.Close()
}

// resolveModule asks node where a module resolves from dir (Node's own lookup: dir's
// node_modules, its parents', NODE_PATH).
func resolveModule(nodeBin, module, dir string, env []string) (string, error) {
	cmd := exec.Command(nodeBin, "-e", "process.stdout.write(require.resolve(process.argv[1]))", module)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			msg = strings.TrimSpace(string(exitErr.Stderr))
		}
		return "", fmt.Errorf("it looks like the Pulumi SDK has not been installed: could not resolve %s from %s: %s",
			module, dir, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

func upstreamPath() (string, error) {
	if p := os.Getenv(upstreamEnv); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	self, err = filepath.EvalSymlinks(self)
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(filepath.Dir(self)), "libexec", "pulumi-language-nodejs-upstream"), nil
}

func main() {
	bin, err := upstreamPath()
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
	// The child gets our arguments (engine address, -root, -tracing, ...) and environment,
	// and dies with us (the engine kills language hosts when it is done).
	child := exec.Command(bin, os.Args[1:]...)
	child.Stderr = os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	childOut, err := child.StdoutPipe()
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
	if err := child.Start(); err != nil {
		cmdutil.ExitError(fmt.Sprintf("could not start the upstream language host %s: %v", bin, err))
	}
	reader := bufio.NewReader(childOut)
	line, err := reader.ReadString('\n')
	if err != nil {
		cmdutil.ExitError(fmt.Sprintf("the upstream language host %s printed no port: %v", bin, err))
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		cmdutil.ExitError(fmt.Sprintf("the upstream language host %s printed %q, not a port", bin, line))
	}
	go func() { _, _ = io.Copy(os.Stdout, reader) }()

	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(port),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		rpcutil.GrpcChannelOptions())
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
	h := &host{up: pulumirpc.NewLanguageRuntimeClient(conn)}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.ExitError(fmt.Sprintf("could not start the language host RPC server: %v", err))
	}
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.ExitError(fmt.Sprintf("language host RPC stopped serving: %v", err))
	}
	_ = child.Process.Kill()
}
