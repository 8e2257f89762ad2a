package engine

import (
	"fmt"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Slot and token management, but for the PIN functions (pin.go, tokeninit.go) and the mechanism queries:
// C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_WaitForSlotEvent.

func (a *app) GetSlotList(tokenPresent bool) ([]ck.SlotID, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	var out []ck.SlotID
	for _, s := range a.e.slotList() {
		if a.visibleSlot(s) == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

func (a *app) GetSlotInfo(slot ck.SlotID) (ck.SlotInfo, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if err := a.visibleSlot(slot); err != nil {
		return ck.SlotInfo{}, err
	}
	return a.e.slotInfo(slot)
}

func (a *app) GetTokenInfo(slot ck.SlotID) (ck.TokenInfo, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if err := a.visibleSlot(slot); err != nil {
		return ck.TokenInfo{}, err
	}
	info, err := a.e.tokenInfo(slot)
	if t, ok := a.e.tokens[slot]; ok && err == nil && a.identityLogin(t) {
		info.Flags |= ck.CKF_PROTECTED_AUTHENTICATION_PATH // this application logs in by its identity
	}
	return info, err
}

func (a *app) WaitForSlotEvent(flags uint64) (ck.SlotID, error) {
	if flags&ck.CKF_DONT_BLOCK == 0 {
		return 0, ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	for len(a.e.events) > 0 {
		slot := a.e.events[0]
		a.e.events = a.e.events[1:]
		if a.visibleSlot(slot) == nil { // an event of a token the policy hides is not this application's
			return slot, nil
		}
	}
	return 0, ck.CKR_NO_EVENT
}

func (e *Engine) slotList() []ck.SlotID {
	slots := make([]ck.SlotID, 0, len(e.tokens)+1)
	for s := range e.tokens {
		slots = append(slots, s)
	}
	slots = append(slots, e.freeSlot)
	for i := 1; i < len(slots); i++ { // few slots: insertion sort
		for j := i; j > 0 && slots[j] < slots[j-1]; j-- {
			slots[j], slots[j-1] = slots[j-1], slots[j]
		}
	}
	return slots
}

func (e *Engine) slotInfo(slot ck.SlotID) (ck.SlotInfo, error) {
	if _, ok := e.tokens[slot]; !ok && slot != e.freeSlot {
		return ck.SlotInfo{}, ck.CKR_SLOT_ID_INVALID
	}
	return ck.SlotInfo{
		SlotDescription: fmt.Sprintf("Keyward slot %d", slot),
		ManufacturerID:  manufacturerID,
		Flags:           ck.CKF_TOKEN_PRESENT,
		HardwareVersion: engineVersion,
		FirmwareVersion: engineVersion,
	}, nil
}

func pinFlags(p *pinState, max int, low, final, locked uint64) uint64 {
	switch {
	case p.Failures >= max:
		return locked
	case p.Failures == max-1:
		return final | low
	case p.Failures > 0:
		return low
	}
	return 0
}

func (e *Engine) tokenInfo(slot ck.SlotID) (ck.TokenInfo, error) {
	info := ck.TokenInfo{
		ManufacturerID:     manufacturerID,
		Model:              tokenModel,
		Flags:              ck.CKF_RNG | ck.CKF_LOGIN_REQUIRED,
		MaxSessionCount:    ck.CK_EFFECTIVELY_INFINITE,
		MaxRwSessionCount:  ck.CK_EFFECTIVELY_INFINITE,
		MaxPinLen:          uint64(e.cfg.MaxPINLen),
		MinPinLen:          uint64(e.cfg.MinPINLen),
		TotalPublicMemory:  ck.CK_UNAVAILABLE_INFORMATION,
		FreePublicMemory:   ck.CK_UNAVAILABLE_INFORMATION,
		TotalPrivateMemory: ck.CK_UNAVAILABLE_INFORMATION,
		FreePrivateMemory:  ck.CK_UNAVAILABLE_INFORMATION,
		HardwareVersion:    engineVersion,
		FirmwareVersion:    engineVersion,
	}
	t, ok := e.tokens[slot]
	if !ok {
		if slot != e.freeSlot {
			return ck.TokenInfo{}, ck.CKR_SLOT_ID_INVALID
		}
		return info, nil // the free slot's token is present but not initialised
	}
	info.Label = t.rec.Label
	info.SerialNumber = t.rec.Serial
	info.Flags |= ck.CKF_TOKEN_INITIALIZED
	if t.rec.User.set() {
		info.Flags |= ck.CKF_USER_PIN_INITIALIZED
	}
	max := e.cfg.MaxPINFailures
	info.Flags |= pinFlags(&t.rec.User, max, ck.CKF_USER_PIN_COUNT_LOW, ck.CKF_USER_PIN_FINAL_TRY, ck.CKF_USER_PIN_LOCKED)
	info.Flags |= pinFlags(&t.rec.SO, max, ck.CKF_SO_PIN_COUNT_LOW, ck.CKF_SO_PIN_FINAL_TRY, ck.CKF_SO_PIN_LOCKED)
	for _, s := range e.sessions {
		if s.tok == t {
			info.SessionCount++
			if s.rw {
				info.RwSessionCount++
			}
		}
	}
	return info, nil
}
