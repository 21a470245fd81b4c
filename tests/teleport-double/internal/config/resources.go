package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ProvisionToken is a `kind: token` resource (api/types.ProvisionTokenV2)
// as `teleport start --apply-on-startup FILE` reads it.
type ProvisionToken struct {
	Name       string
	Roles      []string
	JoinMethod string
	Allow      []TokenRule
	// Expires is metadata.expires; zero means the token never expires.
	Expires time.Time
}

// TokenRule is one entry of spec.allow (api/types.TokenRule).
type TokenRule struct {
	AWSAccount string   `yaml:"aws_account"`
	AWSRegions []string `yaml:"aws_regions"`
	AWSRole    string   `yaml:"aws_role"`
	AWSARN     string   `yaml:"aws_arn"`
}

type tokenResource struct {
	Kind     string `yaml:"kind"`
	SubKind  string `yaml:"sub_kind"`
	Version  string `yaml:"version"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Description string            `yaml:"description"`
		Labels      map[string]string `yaml:"labels"`
		Expires     *time.Time        `yaml:"expires"`
		Namespace   string            `yaml:"namespace"`
		Revision    string            `yaml:"revision"`
	} `yaml:"metadata"`
	Spec struct {
		Roles      []string    `yaml:"roles"`
		Allow      []TokenRule `yaml:"allow"`
		AWSIIDTTL  string      `yaml:"aws_iid_ttl"`
		JoinMethod string      `yaml:"join_method"`
		BotName    string      `yaml:"bot_name"`
	} `yaml:"spec"`
}

// Keys of ProvisionTokenV2 the double does not model but Teleport reads
// (the configuration of the other join methods, labels for agents).
var tokenSpecOtherKeys = []string{"suggested_labels", "suggested_agent_matcher_labels", "github", "circleci", "kubernetes",
	"azure", "gitlab", "gcp", "spacelift", "tpm", "terraform_cloud", "bitbucket", "oracle", "azure_devops", "bound_keypair", "integration", "env0"}

// Kinds `--apply-on-startup` applies (lib/auth.ResourceApplyPriority and
// applyResources); the double models only tokens.
var applyKinds = []string{"role", "user", "cluster_networking_config", "cluster_auth_preference", "bot", "db_object_import_rule", "autoupdate_config", "autoupdate_version"}

// Kinds with a resource unmarshaler (lib/services.init) that applyResources
// then refuses.
var unappliedKinds = []string{"cert_authority", "trusted_cluster", "github", "saml", "oidc", "lock"}

// ReadResources mirrors lib/config.ReadResources for the file of `teleport
// start --apply-on-startup`, then what applying does to a token
// (services.UnmarshalProvisionToken and ProvisionTokenV2.CheckAndSetDefaults).
// Teleport decodes each document without refusing unknown keys: they are
// returned as warnings. Errors name the document and the key.
func ReadResources(path string) ([]ProvisionToken, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var tokens []ProvisionToken
	var warnings []string
	for i := 0; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		t, warns, err := readToken(doc.Content[0])
		if err != nil {
			return nil, nil, fmt.Errorf("resource %d (line %d): %w", i+1, doc.Content[0].Line, err)
		}
		tokens = append(tokens, t)
		for _, w := range warns {
			warnings = append(warnings, fmt.Sprintf("--apply-on-startup %s: token %q: %s", path, t.Name, w))
		}
	}
	if len(tokens) == 0 {
		return nil, nil, fmt.Errorf("no resources found: %q", path)
	}
	return tokens, warnings, nil
}

func readToken(n *yaml.Node) (ProvisionToken, []string, error) {
	var header struct {
		Kind    string `yaml:"kind"`
		Version string `yaml:"version"`
	}
	if err := n.Decode(&header); err != nil {
		return ProvisionToken{}, nil, err
	}
	switch {
	case header.Kind == "token":
	case slices.Contains(applyKinds, header.Kind):
		return ProvisionToken{}, nil, NotModelled("kind %q: the double applies only kind token (Teleport would apply it)", header.Kind)
	case slices.Contains(unappliedKinds, header.Kind):
		return ProvisionToken{}, nil, fmt.Errorf("applying resources failed: cannot apply resource of kind %q (--apply-on-startup takes token, role, user, cluster_networking_config, cluster_auth_preference, bot)", header.Kind)
	default:
		return ProvisionToken{}, nil, fmt.Errorf("cannot dynamically unmarshal resources of kind %q (set kind: token)", header.Kind)
	}
	// mirrors lib/services.UnmarshalProvisionToken
	switch header.Version {
	case "v2":
	case "":
		return ProvisionToken{}, nil, NotModelled("a token without version (ProvisionTokenV1); set version: v2")
	default:
		return ProvisionToken{}, nil, fmt.Errorf("server resource version %v is not supported (set version: v2)", header.Version)
	}
	var r tokenResource
	if err := n.Decode(&r); err != nil {
		return ProvisionToken{}, nil, fmt.Errorf("bad token resource: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	warnings := unknownKeys(n)
	t := ProvisionToken{Name: r.Metadata.Name, JoinMethod: r.Spec.JoinMethod, Allow: r.Spec.Allow}
	if r.Metadata.Expires != nil {
		t.Expires = *r.Metadata.Expires
	}
	err := checkAndSetDefaults(&t, r.Spec.Roles, r.Spec.BotName)
	if err == nil && !slices.Contains([]string{"token", "iam"}, t.JoinMethod) {
		warnings = append(warnings, fmt.Sprintf("%v: nothing can join with this token", NotModelled("join method %q", t.JoinMethod)))
	}
	return t, warnings, err
}

// checkAndSetDefaults mirrors api/types.(*ProvisionTokenV2).CheckAndSetDefaults
// with the messages Teleport gives (the iam branch's "ec2" is Teleport's).
func checkAndSetDefaults(t *ProvisionToken, roles []string, botName string) error {
	if t.Name == "" {
		return errors.New("metadata.name: missing parameter Name")
	}
	if len(roles) == 0 {
		return errors.New("spec.roles: provisioning token is missing roles")
	}
	parsed, err := ParseTeleportRoles(strings.Join(roles, ","))
	if err != nil {
		return fmt.Errorf("spec.roles: %v", err)
	}
	t.Roles = parsed
	if slices.Contains(parsed, "Bot") && botName == "" {
		return errors.New(`spec.bot_name: token with role "Bot" must set bot_name`)
	}
	if botName != "" && !slices.Contains(parsed, "Bot") {
		return errors.New(`spec.bot_name: can only set bot_name on token with role "Bot"`)
	}
	hasAllow := len(t.Allow) > 0
	if t.JoinMethod == "" {
		// Teleport's backwards-compatible default.
		t.JoinMethod = "token"
		if hasAllow {
			t.JoinMethod = "ec2"
		}
	}
	switch t.JoinMethod {
	case "token":
		if hasAllow {
			return errors.New(`spec.allow: allow rules are not compatible with the "token" join method`)
		}
	case "ec2":
		if !hasAllow {
			return errors.New(`spec.allow: the "ec2" join method requires defined token allow rules`)
		}
		for i, r := range t.Allow {
			if r.AWSARN != "" {
				return fmt.Errorf(`spec.allow[%d]: the "ec2" join method does not support the "aws_arn" parameter`, i)
			}
			if r.AWSAccount == "" && r.AWSRole == "" {
				return fmt.Errorf(`spec.allow[%d]: allow rule for "ec2" join method must set "aws_account" or "aws_role"`, i)
			}
		}
	case "iam":
		if !hasAllow {
			return errors.New(`spec.allow: the "iam" join method requires defined token allow rules`)
		}
		for i, r := range t.Allow {
			if r.AWSRole != "" {
				return fmt.Errorf(`spec.allow[%d]: the "iam" join method does not support the "aws_role" parameter`, i)
			}
			if len(r.AWSRegions) != 0 {
				return fmt.Errorf(`spec.allow[%d]: the "iam" join method does not support the "aws_regions" parameter`, i)
			}
			if r.AWSAccount == "" && r.AWSARN == "" {
				return fmt.Errorf(`spec.allow[%d]: allow rule for "ec2" join method must set "aws_account" or "aws_arn"`, i)
			}
		}
	default:
		if !slices.Contains(joinMethods, t.JoinMethod) {
			return fmt.Errorf("spec.join_method: unknown join method %q", t.JoinMethod)
		}
	}
	return nil
}

// unknownKeys lists the keys of a token document that ProvisionTokenV2 has
// no field for: Teleport's JSON decoding drops them without a word, so a
// misspelt aws_account is silently a rule without an account.
func unknownKeys(n *yaml.Node) []string {
	known := map[string][]string{
		"":         {"kind", "sub_kind", "version", "metadata", "spec"},
		"metadata": {"name", "description", "labels", "expires", "namespace", "revision"},
		"spec":     append([]string{"roles", "allow", "aws_iid_ttl", "join_method", "bot_name"}, tokenSpecOtherKeys...),
		"allow":    {"aws_account", "aws_regions", "aws_role", "aws_arn"},
	}
	var out []string
	var walkKeys func(n *yaml.Node, section, path string)
	walkKeys = func(n *yaml.Node, section, path string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			full := strings.TrimPrefix(path+"."+k, ".")
			if !slices.Contains(known[section], k) {
				out = append(out, fmt.Sprintf("%s (line %d) is not a field of a token resource: Teleport ignores it silently (check the key name)", full, n.Content[i].Line))
				continue
			}
			switch {
			case section == "" && (k == "metadata" || k == "spec"):
				walkKeys(v, k, full)
			case section == "spec" && k == "allow" && v.Kind == yaml.SequenceNode:
				for j, item := range v.Content {
					walkKeys(item, "allow", fmt.Sprintf("%s[%d]", full, j))
				}
			}
		}
	}
	walkKeys(n, "", "")
	sort.Strings(out)
	return out
}
