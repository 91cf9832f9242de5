package producer

// Neighborhood writes the T neighbor slots of global node v (global ids and
// importance weights summing to 1; unused slots point at v with weight 0)
// into ids and wts, both of length T (Config().Neighbors.T), and returns the
// number of valid slots. It samples exactly as training batches of that
// epoch do with neighbors.cache (randomness from (seed, epoch, v)), so a
// model's Embed convolves over the same kind of neighborhoods training saw.
// Safe for concurrent use.
func (s *Sampler) Neighborhood(epoch int, v uint32, ids []uint32, wts []float32) int {
	sc := s.getScratch()
	defer s.putScratch(sc)
	if s.cache != nil {
		s.cache.acquire(epoch)
		defer s.cache.release()
	}
	s.neighborhood(sc, epoch, -1, v, ids, wts)
	n := 0
	for _, w := range wts {
		if w != 0 {
			n++
		}
	}
	return n
}
