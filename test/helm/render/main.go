// helm-render renders a Helm chart the way `helm template` does, for tests on machines where no helm binary
// can be installed. It runs the chart's templates on Go's own text/template with sprig's functions and
// Helm's additions (include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup), with Helm's data
// (.Values, .Release, .Chart, .Capabilities, .Template) and Helm's value rules: values.yaml, then each -f
// file merged over it in order, then --set; a null deletes a default; numbers are float64 as Helm's JSON
// round trip makes them. Partials (files whose name starts with "_") only define templates; NOTES.txt is
// not rendered, as in `helm template` (-notes prints it alone, as `helm install` shows it). Output: every
// non-empty document, sorted by Helm's install order of kinds, each under "---" and
// "# Source: <chart>/templates/<file>".
//
// Subcharts, .Files and --set's list syntax are not supported: the Stave chart uses none of them.
//
// YAML goes through yaml.v2, as in Helm (sigs.k8s.io/yaml), so values parse and toYaml prints as they do
// there. Builds offline in GOPATH mode on Debian's packages (golang-go, golang-github-masterminds-sprig-dev,
// golang-gopkg-yaml.v2-dev); see test/helm/build-renderer.sh.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// chartMeta is the part of Chart.yaml that templates read as .Chart (Helm's field names).
type chartMeta struct {
	APIVersion  string `yaml:"apiVersion"`
	Name        string `yaml:"name"`
	Version     string `yaml:"version"`
	AppVersion  string `yaml:"appVersion"`
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
	KubeVersion string `yaml:"kubeVersion"`
	Home        string `yaml:"home"`
}

type release struct {
	Name      string
	Namespace string
	Service   string
	Revision  int
	IsInstall bool
	IsUpgrade bool
}

type kubeVersion struct {
	Version    string
	Major      string
	Minor      string
	GitVersion string
}

func (k kubeVersion) String() string { return k.Version }

type apiVersions []string

// Has answers as Helm's Capabilities.APIVersions.Has: "group/version" or "group/version/Kind".
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions apiVersions
	HelmVersion map[string]string
}

// The API versions a current cluster serves (Helm's defaults come from its client-go); --api-versions adds more.
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1",
	"rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"apiextensions.k8s.io/v1", "admissionregistration.k8s.io/v1", "scheduling.k8s.io/v1", "node.k8s.io/v1",
	"certificates.k8s.io/v1", "events.k8s.io/v1", "apiregistration.k8s.io/v1",
}

func main() {
	var valueFiles, sets, apis listFlag
	name := flag.String("name", "release-name", "release name (.Release.Name)")
	namespace := flag.String("namespace", "default", "release namespace (.Release.Namespace)")
	kube := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities.KubeVersion")
	valuesOut := flag.String("values-out", "", "also write the merged values as JSON to this file (for schema checks)")
	notes := flag.Bool("notes", false, "print the rendered templates/NOTES.txt (what helm install shows) instead of the manifests")
	flag.Var(&valueFiles, "f", "values file merged over the chart's values.yaml (repeatable)")
	flag.Var(&sets, "set", "key.path=value merged last (repeatable; true/false/null/numbers are typed)")
	flag.Var(&apis, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-name N] [-namespace NS] [-f values.yaml]... [-set a.b=c]... CHART_DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), options{
		release:     release{Name: *name, Namespace: *namespace, Service: "Helm", Revision: 1, IsInstall: true},
		valueFiles:  valueFiles,
		sets:        sets,
		kubeVersion: *kube,
		apis:        append(append([]string{}, defaultAPIVersions...), apis...),
		valuesOut:   *valuesOut,
		notes:       *notes,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

type options struct {
	release     release
	valueFiles  []string
	sets        []string
	kubeVersion string
	apis        []string
	valuesOut   string
	notes       bool
}

func render(chartDir string, opts options) (string, error) {
	var chart chartMeta
	if err := readYAML(filepath.Join(chartDir, "Chart.yaml"), &chart); err != nil {
		return "", err
	}
	if chart.Name == "" || chart.Version == "" {
		return "", fmt.Errorf("Chart.yaml: name and version are required")
	}
	defaults := map[string]interface{}{}
	if err := readValues(filepath.Join(chartDir, "values.yaml"), &defaults); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	user := map[string]interface{}{}
	for _, f := range opts.valueFiles {
		v := map[string]interface{}{}
		if err := readValues(f, &v); err != nil {
			return "", err
		}
		user = mergeMaps(user, v)
	}
	for _, s := range opts.sets {
		v, err := parseSet(s)
		if err != nil {
			return "", err
		}
		user = mergeMaps(user, v)
	}
	values := coalesce(user, defaults)
	if opts.valuesOut != "" {
		b, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(opts.valuesOut, b, 0o644); err != nil {
			return "", err
		}
	}

	kv, err := parseKubeVersion(opts.kubeVersion)
	if err != nil {
		return "", err
	}
	top := map[string]interface{}{
		"Values":       values,
		"Release":      opts.release,
		"Chart":        chart,
		"Capabilities": capabilities{KubeVersion: kv, APIVersions: opts.apis, HelmVersion: map[string]string{"Version": "v3"}},
	}

	// Every file under templates/ is parsed into one set, named "<chart>/templates/<path>" as in Helm.
	files := map[string]string{}
	tdir := filepath.Join(chartDir, "templates")
	err = filepath.WalkDir(tdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tdir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[chart.Name+"/templates/"+filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	root := template.New("gotpl").Option("missingkey=zero")
	funcs := funcMap(root)
	root.Funcs(funcs)
	for _, n := range names {
		if _, err := root.New(n).Parse(files[n]); err != nil {
			return "", err
		}
	}

	if opts.notes {
		n := chart.Name + "/templates/NOTES.txt"
		if root.Lookup(n) == nil {
			return "", nil
		}
		return execute(root, n, top, chart.Name)
	}

	type doc struct {
		source, kind, content string
		order                 int
	}
	var docs []doc
	for _, n := range names {
		base := filepath.Base(n)
		if strings.HasPrefix(base, "_") || strings.HasSuffix(base, "NOTES.txt") {
			continue
		}
		text, err := execute(root, n, top, chart.Name)
		if err != nil {
			return "", err
		}
		for _, part := range splitManifests(text) {
			var head struct {
				Kind string `yaml:"kind"`
			}
			if err := yaml.Unmarshal([]byte(part), &head); err != nil {
				return "", fmt.Errorf("%s: rendered YAML does not parse: %v\n%s", n, err, part)
			}
			if head.Kind == "" {
				return "", fmt.Errorf("%s: rendered document has no kind:\n%s", n, part)
			}
			docs = append(docs, doc{source: n, kind: head.Kind, content: part, order: len(docs)})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool {
		a, b := kindRank(docs[i].kind), kindRank(docs[j].kind)
		if a != b {
			return a < b
		}
		if a == len(installOrder) && docs[i].kind != docs[j].kind {
			return docs[i].kind < docs[j].kind
		}
		return false
	})
	var out strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", d.source, d.content)
	}
	return out.String(), nil
}

// execute renders one template file with Helm's data; a missing value prints as nothing, as in Helm.
func execute(root *template.Template, name string, top map[string]interface{}, chartName string) (string, error) {
	data := map[string]interface{}{}
	for k, v := range top {
		data[k] = v
	}
	data["Template"] = map[string]string{"Name": name, "BasePath": chartName + "/templates"}
	var buf bytes.Buffer
	if err := root.ExecuteTemplate(&buf, name, data); err != nil {
		return "", err
	}
	return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
}

// Helm's InstallOrder: kinds other resources depend on come first; unknown kinds last, by name.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList",
	"ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
	"Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

func kindRank(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitManifests splits on "---" lines and drops documents that are empty or only comments, as Helm does.
func splitManifests(text string) []string {
	var out []string
	for _, part := range separator.Split(text, -1) {
		part = strings.TrimSpace(part)
		empty := true
		for _, line := range strings.Split(part, "\n") {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if !empty {
			out = append(out, part)
		}
	}
	return out
}

func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	// Helm removes these: a chart must not read the renderer's environment.
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["mustToYaml"] = func(v interface{}) (string, error) { return marshalYAML(v) }
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := unmarshalValues([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := unmarshalValues([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	f["toJson"] = func(v interface{}) string {
		b, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(b)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	// No cluster: lookup finds nothing, as in `helm template`.
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

// toYAML is Helm's: errors become "", and the trailing newline is trimmed.
func toYAML(v interface{}) string {
	s, err := marshalYAML(v)
	if err != nil {
		return ""
	}
	return s
}

// marshalYAML is Helm's (sigs.k8s.io/yaml): JSON first (so keys sort and whole floats print as integers),
// then yaml.v2's block style.
func marshalYAML(v interface{}) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var obj interface{}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return "", err
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

func readYAML(path string, v interface{}) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

func readValues(path string, v interface{}) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := unmarshalValues(b, v); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

// unmarshalValues reads YAML as Helm does (yaml.v2 → JSON → Go): maps with string keys, numbers as float64,
// YAML 1.1 scalars (yes/no/on/off are booleans).
func unmarshalValues(b []byte, v interface{}) error {
	var raw interface{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		return nil
	}
	j, err := json.Marshal(jsonable(raw))
	if err != nil {
		return err
	}
	return json.Unmarshal(j, v)
}

func jsonable(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = jsonable(x)
		}
		return t
	case map[interface{}]interface{}:
		m := map[string]interface{}{}
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []interface{}:
		for i, x := range t {
			t[i] = jsonable(x)
		}
		return t
	}
	return v
}

// mergeMaps is Helm's merge of user values files: maps merge key by key, anything else is replaced.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]interface{}); ok {
			if av, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(av, bv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce lays user values over the chart's defaults; a user null deletes the default, as in Helm.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range user {
		if v == nil {
			delete(out, k)
			continue
		}
		um, uok := v.(map[string]interface{})
		dm, dok := out[k].(map[string]interface{})
		if uok && dok {
			out[k] = coalesce(um, dm)
			continue
		}
		out[k] = v
	}
	return out
}

// parseSet reads "a.b.c=value" into {a:{b:{c:value}}}, typing the value as Helm's --set does.
func parseSet(s string) (map[string]interface{}, error) {
	eq := strings.Index(s, "=")
	if eq <= 0 {
		return nil, fmt.Errorf("--set %q: want key=value", s)
	}
	keys := strings.Split(s[:eq], ".")
	raw := s[eq+1:]
	var val interface{} = raw
	switch {
	case raw == "true":
		val = true
	case raw == "false":
		val = false
	case raw == "null":
		val = nil
	default:
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			val = float64(n)
		}
	}
	out := map[string]interface{}{keys[len(keys)-1]: val}
	for i := len(keys) - 2; i >= 0; i-- {
		out = map[string]interface{}{keys[i]: out}
	}
	return out, nil
}

var kubeVersionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)(\.\d+)?$`)

func parseKubeVersion(v string) (kubeVersion, error) {
	m := kubeVersionRe.FindStringSubmatch(v)
	if m == nil {
		return kubeVersion{}, fmt.Errorf("kube-version %q: want v<major>.<minor>[.<patch>]", v)
	}
	full := "v" + strings.TrimPrefix(v, "v")
	return kubeVersion{Version: full, Major: m[1], Minor: m[2], GitVersion: full}, nil
}
