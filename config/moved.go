package config

import "strings"

// movedKeys maps each key (or section) that has left the schema to what
// replaces it, so Load's error tells a user of an old config what to
// write instead of only "unknown key". It returns a new map on each call.
func movedKeys() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"weight", "degree_power", "max", "linear", "embed_only"} {
		m["model.history_"+k] = "moved to model.history." + k
	}
	m["curriculum.lr"] = "removed: the learning rate has one scheduler, model.lr_schedule (constant | step | cosine) " +
		"with model.lr, model.min_lr, model.warmup_epochs and model.decay_epochs (0 = the whole run); " +
		"model.lr_unit: epoch holds the rate for each epoch as curriculum.lr with unit epoch did"
	return m
}

// unknownKeyMsg is the message of an unknown key: where it (or the section
// it is under) moved, when it did, else msg.
func unknownKeyMsg(key, msg string) string {
	base, _, _ := strings.Cut(key, "[")
	for old, to := range movedKeys() {
		if base == old || strings.HasPrefix(base, old+".") {
			return to
		}
	}
	return msg
}

// unknownEnvMsg is unknownKeyMsg for an environment variable that names no
// key: where the key it names moved, else msg.
func unknownEnvMsg(name, msg string) string {
	for old, to := range movedKeys() {
		if e := EnvName(old); name == e || strings.HasPrefix(name, e+"_") {
			return "names " + old + ", which " + to
		}
	}
	return msg
}
