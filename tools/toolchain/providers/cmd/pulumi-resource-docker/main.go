// Command pulumi-resource-docker is the Pulumi resource plugin for docker, bridged
// from the upstream (kreuzwerker) Terraform provider. schema.json and
// bridge-metadata.json are generated at build time by pulumi-tfgen (build.sh)
// and embedded here.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"backend-infra/tools/toolchain/providers/bridged"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	tfbridge.Main("docker", bridged.DockerVersion, bridged.Docker(metadata), schema)
}
