package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The mechanism functions of the specification's slot and token management chapter: C_GetMechanismList and
// C_GetMechanismInfo. Every slot offers the mechanisms registered in internal/mech, with the CK_MECHANISM_INFO
// each registers.

// GetMechanismList returns the mechanisms of a slot the application sees: every registered mechanism, in
// numeric order.
func (a *app) GetMechanismList(slot ck.SlotID) ([]ck.MechanismType, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if err := a.visibleSlot(slot); err != nil {
		return nil, err
	}
	if _, err := a.e.slotInfo(slot); err != nil {
		return nil, err
	}
	return mech.List(), nil
}

// GetMechanismInfo returns a registered mechanism's CK_MECHANISM_INFO; CKR_MECHANISM_INVALID for any other.
func (a *app) GetMechanismInfo(slot ck.SlotID, m ck.MechanismType) (ck.MechanismInfo, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if err := a.visibleSlot(slot); err != nil {
		return ck.MechanismInfo{}, err
	}
	if _, err := a.e.slotInfo(slot); err != nil {
		return ck.MechanismInfo{}, err
	}
	spec := mech.Lookup(m)
	if spec == nil {
		return ck.MechanismInfo{}, ck.CKR_MECHANISM_INVALID
	}
	return spec.Info, nil
}
