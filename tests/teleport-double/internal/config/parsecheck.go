package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Values of the enums Teleport decodes with its own UnmarshalYAML, so that a
// bad value already fails `teleport configure --test`.
var (
	// api/types.ProxyListenerMode_value, matched case-insensitively.
	listenerModes = []string{"separate", "multiplex"}
	// api/types.RoutingStrategy_value, matched case-insensitively.
	routingStrategies = []string{"unambiguous_match", "most_recent"}
)

// parseChecks are the checks lib/config.ReadConfig makes beyond unknown keys:
// those of the custom unmarshalers of the types in lib/config/fileconf.go.
// Nothing here may be stricter than that: `configure --test` runs only this.
func (f *File) parseChecks() Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	a := f.Auth
	if ts := a.TunnelStrategy; ts != nil {
		// mirrors api/types.(*TunnelStrategyV1).unmarshal: the type selects
		// the strategy, then the rest is decoded strictly into it.
		switch ts.Type {
		case "agent_mesh":
			if ts.AgentConnectionCount != nil {
				add("auth_service.tunnel_strategy.agent_connection_count", "unknown field for tunnel strategy agent_mesh (it belongs to type proxy_peering)")
			}
		case "proxy_peering":
		default:
			add("auth_service.tunnel_strategy.type", "unknown tunnel strategy: %q (use agent_mesh or proxy_peering)", ts.Type)
		}
	}
	// mirrors api/types.(*ProxyListenerMode).UnmarshalYAML
	if v := a.ProxyListenerMode; v != "" && !slices.Contains(listenerModes, strings.ToLower(v)) {
		add("auth_service.proxy_listener_mode", "proxy listener mode must be one of %s; got %q", strings.Join(listenerModes, ","), v)
	}
	// mirrors api/types.(*RoutingStrategy).UnmarshalYAML
	if v := a.RoutingStrategy; v != "" && !slices.Contains(routingStrategies, strings.ToLower(v)) {
		add("auth_service.routing_strategy", "routing strategy must be one of %s; got %q", strings.Join(routingStrategies, ","), v)
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
	return errs
}
