// Package bridged holds the Pulumi mapping (tfbridge.ProviderInfo) of the three
// Terraform providers that this project's stacks use through Pulumi's bridge:
// random, tls and docker.
//
// Why this exists: the Go module proxy that these machines reach does not serve
// Pulumi's own provider modules (github.com/pulumi/pulumi-random/provider/v4,
// pulumi-tls/provider/v5, pulumi-docker/provider/v5), at any version we could
// name. It does serve the bridge (github.com/pulumi/pulumi-terraform-bridge/v3)
// and the upstream Terraform providers at the commits those Pulumi releases pin.
// So the toolchain builds each plugin from exactly those parts: the upstream
// provider code, the bridge, and this mapping, which names tokens and properties
// the way the published Node.js SDKs (@pulumi/random, @pulumi/tls, @pulumi/docker)
// expect them. tools/toolchain/check-sdk-schema.mjs compares the generated schemas
// with the SDKs in node_modules.
package bridged

import (
	"fmt"

	pf "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	bridgetokens "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	tlsshim "github.com/hashicorp/terraform-provider-tls/shim"
	dockershim "github.com/terraform-providers/terraform-provider-docker/shim"
	randomshim "github.com/terraform-providers/terraform-provider-random/shim"
)

// Versions reported by the plugins. build.sh sets them with -ldflags -X to the
// versions of the Node.js SDKs (the engine asks for a plugin by name+version).
var (
	RandomVersion = "0.0.0-dev"
	TLSVersion    = "0.0.0-dev"
	DockerVersion = "0.0.0-dev"
	// DockerUpstreamVersion is what the upstream docker provider reports as its
	// own version (it only shows up in its user agent).
	DockerUpstreamVersion = "dev"
)

// EmptyMetadata is the bridge metadata that the schema generator starts from.
var EmptyMetadata = []byte("{}")

// Random maps the upstream random provider (Plugin Framework).
func Random(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(randomshim.NewProvider()),
		Name:         "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		License:      "Apache-2.0",
		Version:      RandomVersion,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources:    map[string]*tfbridge.ResourceInfo{},
		// Same schema-version behaviour as the published provider.
		JavaScript:                  &tfbridge.JavaScriptInfo{RespectSchemaVersion: true},
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	// random_password -> random:index/randomPassword:RandomPassword, and so on.
	makeToken := func(module, name string) (string, error) {
		return bridgetokens.MakeStandard("random")(module, "Random"+name)
	}
	info.MustComputeTokens(bridgetokens.SingleModule("random_", "index", makeToken))
	info.MustApplyAutoAliases()
	return info
}

// TLS maps the upstream tls provider (Plugin Framework).
func TLS(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pf.ShimProvider(tlsshim.NewProvider()),
		Name:         "tls",
		Description:  "A Pulumi package to create TLS resources in Pulumi programs.",
		License:      "Apache-2.0",
		Version:      TLSVersion,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		GitHubOrg:    "hashicorp",
		Resources: map[string]*tfbridge.ResourceInfo{
			"tls_cert_request":        {Tok: "tls:index/certRequest:CertRequest"},
			"tls_locally_signed_cert": {Tok: "tls:index/locallySignedCert:LocallySignedCert"},
			"tls_private_key":         {Tok: "tls:index/privateKey:PrivateKey"},
			"tls_self_signed_cert":    {Tok: "tls:index/selfSignedCert:SelfSignedCert"},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"tls_public_key":  {Tok: "tls:index/getPublicKey:getPublicKey"},
			"tls_certificate": {Tok: "tls:index/getCertificate:getCertificate"},
		},
		JavaScript:                     &tfbridge.JavaScriptInfo{RespectSchemaVersion: true},
		EnableZeroDefaultSchemaVersion: true,
	}
	return info
}

// Docker maps the upstream (kreuzwerker) docker provider's SDKv2 part, which
// holds every resource of @pulumi/docker except the natively implemented
// docker.Image (see the toolchain README).
func Docker(metadata []byte) tfbridge.ProviderInfo {
	res := func(name string) *tfbridge.ResourceInfo {
		return &tfbridge.ResourceInfo{Tok: tokenOf(name)}
	}
	info := tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(dockershim.NewProvider(DockerUpstreamVersion)),
		Name:         "docker",
		Description:  "A Pulumi package for interacting with Docker in Pulumi programs",
		License:      "Apache-2.0",
		Version:      DockerVersion,
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		GitHubOrg:    "kreuzwerker",
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {
				Default: &tfbridge.DefaultInfo{
					Value:   "unix:///var/run/docker.sock",
					EnvVars: []string{"DOCKER_HOST"},
				},
			},
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config": res("ServiceConfig"),
			"docker_container": {
				Tok:                 tokenOf("Container"),
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					// A list, but one command: not pluralised.
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    tokenOf("RemoteImage"),
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_network":        res("Network"),
			"docker_secret":         res("Secret"),
			"docker_service":        res("Service"),
			"docker_volume":         res("Volume"),
			"docker_registry_image": res("RegistryImage"),
			"docker_plugin":         res("Plugin"),
			"docker_tag":            res("Tag"),
			"docker_buildx_builder": res("BuildxBuilder"),
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_network":                  {Tok: "docker:index/getNetwork:getNetwork"},
			"docker_registry_image":           {Tok: "docker:index/getRegistryImage:getRegistryImage"},
			"docker_plugin":                   {Tok: "docker:index/getPlugin:getPlugin"},
			"docker_image":                    {Tok: "docker:index/getRemoteImage:getRemoteImage"},
			"docker_logs":                     {Tok: "docker:index/getLogs:getLogs"},
			"docker_registry_image_manifests": {Tok: "docker:index/getRegistryImageManifests:getRegistryImageManifests"},
		},
	}
	info.SetAutonaming(255, "-")
	return info
}

// tokenOf makes docker:index/<lowerFirst>:<Name>.
func tokenOf(name string) tokens.Type {
	return tokens.Type(fmt.Sprintf("docker:index/%s%s:%s", string(name[0]+'a'-'A'), name[1:], name))
}
