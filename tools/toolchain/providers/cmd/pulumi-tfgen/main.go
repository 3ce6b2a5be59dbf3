// Command pulumi-tfgen generates the Pulumi package schema and bridge metadata of
// one of the bridged providers: pulumi-tfgen <random|tls|docker> schema --out DIR.
// build.sh embeds the result into the provider binary, as Pulumi's own provider
// repositories do with their pulumi-tfgen-<name> tools.
package main

import (
	"fmt"
	"os"

	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"backend-infra/tools/toolchain/providers/bridged"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-tfgen <random|tls|docker> schema --out DIR")
		os.Exit(2)
	}
	name := os.Args[1]
	os.Args = append([]string{"pulumi-tfgen-" + name}, os.Args[2:]...)
	switch name {
	case "random":
		pftfgen.Main("random", bridged.Random(bridged.EmptyMetadata))
	case "tls":
		pftfgen.Main("tls", bridged.TLS(bridged.EmptyMetadata))
	case "docker":
		tfgen.Main("docker", bridged.DockerVersion, bridged.Docker(bridged.EmptyMetadata))
	default:
		fmt.Fprintf(os.Stderr, "pulumi-tfgen: unknown provider %q\n", name)
		os.Exit(2)
	}
}
