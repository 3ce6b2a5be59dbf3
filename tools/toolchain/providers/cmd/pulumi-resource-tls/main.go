// Command pulumi-resource-tls is the Pulumi resource plugin for tls, bridged from
// the upstream Terraform provider. schema.json and bridge-metadata.json are
// generated at build time by pulumi-tfgen (build.sh) and embedded here.
package main

import (
	"context"
	_ "embed"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"backend-infra/tools/toolchain/providers/bridged"
)

//go:embed schema.json
var schema []byte

//go:embed bridge-metadata.json
var metadata []byte

func main() {
	ctx := context.Background()
	pf.Main(ctx, "tls", bridged.TLS(metadata), pf.ProviderMetadata{PackageSchema: schema})
}
