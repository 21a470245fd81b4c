package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeResources(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resources.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const iamToken = `kind: token
version: v2
metadata:
  name: proxy-iam
  expires: "3000-01-01T00:00:00Z"
spec:
  roles: [Proxy]
  join_method: iam
  allow:
    - aws_account: "123456789012"
      aws_arn: "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*"
`

func TestReadResourcesReadsTokens(t *testing.T) {
	path := writeResources(t, "---\n"+iamToken+"---\nkind: token\nversion: v2\nmetadata: {name: node-secret}\nspec: {roles: [node, proxy]}\n")
	tokens, warnings, err := ReadResources(path)
	if err != nil || len(warnings) != 0 || len(tokens) != 2 {
		t.Fatalf("tokens %+v warnings %v err %v", tokens, warnings, err)
	}
	iam := tokens[0]
	if iam.Name != "proxy-iam" || iam.JoinMethod != "iam" || !slices.Equal(iam.Roles, []string{"Proxy"}) ||
		!iam.Expires.Equal(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		len(iam.Allow) != 1 || iam.Allow[0].AWSAccount != "123456789012" || iam.Allow[0].AWSARN != "arn:aws:sts::123456789012:assumed-role/teleport-proxy/i-*" {
		t.Fatalf("iam token %+v", iam)
	}
	// No join_method and no allow rules: Teleport's default is token.
	if tok := tokens[1]; tok.JoinMethod != "token" || !slices.Equal(tok.Roles, []string{"Node", "Proxy"}) || !tok.Expires.IsZero() {
		t.Fatalf("token %+v", tok)
	}
}

func TestReadResourcesRefusesWhatTeleportRefuses(t *testing.T) {
	spec := func(s string) string {
		return "kind: token\nversion: v2\nmetadata: {name: t}\nspec:\n" + s
	}
	cases := map[string]struct{ yaml, want string }{
		"empty file":           {"", "no resources found"},
		"no name":              {"kind: token\nversion: v2\nspec: {roles: [proxy], join_method: iam, allow: [{aws_account: '1'}]}\n", "metadata.name: missing parameter Name"},
		"no roles":             {spec("  join_method: iam\n  allow: [{aws_account: '1'}]\n"), "spec.roles: provisioning token is missing roles"},
		"unknown role":         {spec("  roles: [proxie]\n"), `spec.roles: invalid role "proxie"`},
		"iam without allow":    {spec("  roles: [proxy]\n  join_method: iam\n"), `spec.allow: the "iam" join method requires defined token allow rules`},
		"iam with aws_role":    {spec("  roles: [proxy]\n  join_method: iam\n  allow: [{aws_account: '1', aws_role: r}]\n"), `spec.allow[0]: the "iam" join method does not support the "aws_role" parameter`},
		"iam with aws_regions": {spec("  roles: [proxy]\n  join_method: iam\n  allow: [{aws_account: '1', aws_regions: [eu-west-1]}]\n"), `does not support the "aws_regions" parameter`},
		"empty rule":           {spec("  roles: [proxy]\n  join_method: iam\n  allow: [{aws_account: '1'}, {}]\n"), `spec.allow[1]: allow rule for "ec2" join method must set "aws_account" or "aws_arn"`},
		"token with allow":     {spec("  roles: [proxy]\n  join_method: token\n  allow: [{aws_account: '1'}]\n"), `allow rules are not compatible with the "token" join method`},
		"ec2 by default":       {spec("  roles: [proxy]\n  allow: [{aws_arn: 'arn:*'}]\n"), `the "ec2" join method does not support the "aws_arn" parameter`},
		"unknown method":       {spec("  roles: [proxy]\n  join_method: password\n"), `spec.join_method: unknown join method "password"`},
		"bot without name":     {spec("  roles: [bot]\n"), `must set bot_name`},
		"version v3":           {"kind: token\nversion: v3\nmetadata: {name: t}\nspec: {roles: [proxy]}\n", "server resource version v3 is not supported"},
		"unknown kind":         {"kind: tokens\nversion: v2\n", `cannot dynamically unmarshal resources of kind "tokens"`},
		"lock":                 {"kind: lock\nversion: v2\n", `cannot apply resource of kind "lock"`},
		"role":                 {"kind: role\nversion: v7\n", "not modelled by the TEST DOUBLE"},
		"roles not a list":     {spec("  roles: proxy\n"), "bad token resource"},
		"bad expiry":           {"kind: token\nversion: v2\nmetadata: {name: t, expires: tomorrow}\nspec: {roles: [proxy]}\n", "bad token resource"},
		"second document":      {iamToken + "---\nkind: token\nversion: v2\nmetadata: {name: x}\nspec: {}\n", "resource 2 (line"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := ReadResources(writeResources(t, c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// Teleport drops unknown keys silently; the double warns, because a
// misspelt aws_account makes a rule that admits any account.
func TestReadResourcesWarnsAboutKeysTeleportIgnores(t *testing.T) {
	path := writeResources(t, strings.Replace(iamToken, "    - aws_account:", "    - aws_acount: \"1\"\n      aws_account:", 1)+"  bogus: 1\n")
	tokens, warnings, err := ReadResources(path)
	if err != nil || len(tokens) != 1 {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	if len(warnings) != 2 || !strings.Contains(joined, "spec.allow[0].aws_acount (line") || !strings.Contains(joined, "spec.bogus") || !strings.Contains(joined, "Teleport ignores it silently") {
		t.Fatalf("warnings: %v", warnings)
	}
}

func TestReadResourcesWarnsThatOtherJoinMethodsAreNotModelled(t *testing.T) {
	_, warnings, err := ReadResources(writeResources(t, "kind: token\nversion: v2\nmetadata: {name: e}\nspec: {roles: [node], join_method: ec2, allow: [{aws_account: '1'}]}\n"))
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], `join method "ec2": not modelled by the TEST DOUBLE: nothing can join with this token`) {
		t.Fatalf("%v %v", warnings, err)
	}
}
