# A push button on a GPIO: debounced, short and long presses.
#
# The pin interrupt only sets a flag: an interrupt handler must not allocate (a hard IRQ
# cannot, and a soft one would fragment the heap TLS needs). Everything else happens in
# poll(), from the main loop: the contact counts as moved on an edge (or when its level
# differs from the known state, in case an edge was missed), and as settled once it has
# been still for debounce_ms. A press held for long_ms is a long press, reported as soon
# as it is reached; released earlier, it is a short press.

SHORT = "short"
LONG = "long"


class Button:
    def __init__(self, pin, active_low, debounce_ms, long_ms, clock):
        import machine

        self.active = 0 if active_low else 1
        self.debounce_ms = debounce_ms
        self.long_ms = long_ms
        self.clock = clock
        self.edge = False  # set by the interrupt
        self.settling = False  # the contact moved and has not been still for debounce_ms yet
        self.moved_at = 0  # the last time it moved
        self.first_move_at = 0  # the first move of the current burst of bounces
        self.down = False  # the debounced state
        self.down_at = 0
        self.long_reported = False
        pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN
        self.pin = machine.Pin(pin, machine.Pin.IN, pull)
        self.pin.irq(handler=self._interrupt, trigger=machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)

    def _interrupt(self, pin):
        self.edge = True  # no allocation here: a flag, read by poll()

    def pressed_now(self):
        """The raw level: whether the contact is closed right now."""
        return self.pin.value() == self.active

    def poll(self, now):
        """SHORT or LONG when a press was recognised, else None. Allocates nothing (it runs
        every turn of the loop): self.clock.ticks_diff(...) is called, never kept."""
        moved = self.edge or (not self.settling and self.pressed_now() != self.down)
        if moved:
            self.edge = False
            if not self.settling:
                self.settling = True
                self.first_move_at = now
            self.moved_at = now
        if self.settling and self.clock.ticks_diff(now, self.moved_at) >= self.debounce_ms:
            self.settling = False
            pressed = self.pressed_now()
            if pressed and not self.down:
                self.down = True
                self.down_at = self.first_move_at
                self.long_reported = False
            elif not pressed and self.down:
                self.down = False
                if not self.long_reported:
                    held = self.clock.ticks_diff(self.first_move_at, self.down_at)
                    return LONG if held >= self.long_ms else SHORT
        if self.down and not self.long_reported and self.clock.ticks_diff(now, self.down_at) >= self.long_ms:
            self.long_reported = True
            return LONG
        return None
